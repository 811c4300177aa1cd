"""The run's summary page: reports/README.md with tables and figures that answer the hand-in.

Reads only the small files other stages leave in ``reports/`` (metrics JSON, sweep CSVs) and
``kws/literature.json``; it never loads a model or data, so it runs in seconds and anywhere the
reports are (a fresh clone of a commit included). Every section is rendered when its inputs
exist; a missing one becomes one line that says which stage to run. Figures are matplotlib (Agg)
PNGs at a modest dpi, so they stay small in git and open without DVC.

The page text is hand-written here on purpose: each sentence is filled with this run's numbers.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

DPI = 80
LITERATURE = Path(__file__).with_name("literature.json")
FILE_DEPS = ("kws/literature.json",)  # kws.deps

# The stage that writes each input, for the "run this" line of a missing section.
SOURCES = {
    "data": ("data/metrics.json", "download"),
    "features": ("features/metrics.json", "featurize"),
    "train": ("train/metrics.json", "train"),
    "profile": ("profile/metrics.json", "profile"),
    "models": ("profile/models.csv", "profile"),
    "convert": ("convert/metrics.json", "convert"),
    "ptq": ("ptq/accuracy_vs_bits.csv", "ptq"),
    "qat": ("qat/accuracy_vs_bits.csv", "qat"),
    "minifloat": ("minifloat/accuracy.csv", "minifloat"),
    "firmware": ("firmware/metrics.json", "firmware"),
    "prune_unstructured": ("prune/unstructured.csv", "prune"),
    "prune_structured": ("prune/structured.csv", "prune"),
    "stream": ("stream/metrics.json", "stream"),
    "stream_det": ("stream/det_synthetic.csv", "stream"),
    "stream_det_real": ("stream/det_real.csv", "stream"),
    "ptq_metrics": ("ptq/metrics.json", "ptq"),
    "qat_metrics": ("qat/metrics.json", "qat"),
    "minifloat_metrics": ("minifloat/metrics.json", "minifloat"),
    "prune_metrics": ("prune/metrics.json", "prune"),
}
# stage -> its metrics.json key in SOURCES, in pipeline order (each holds a top-level seconds)
STAGE_METRICS = {"download": "data", "featurize": "features", "train": "train",
                 "profile": "profile", "convert": "convert", "ptq": "ptq_metrics",
                 "qat": "qat_metrics", "minifloat": "minifloat_metrics", "firmware": "firmware",
                 "stream": "stream", "prune": "prune_metrics"}


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _num(v: Any) -> Any:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and "." not in str(v) else f


@dataclass
class Inputs:
    """What the stages left in ``reports/``: one entry per key of SOURCES, None when absent."""

    root: Path
    found: dict = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path) -> "Inputs":
        from kws.errors import KwsError

        root = Path(root)
        found = {}
        for key, (rel, _) in SOURCES.items():
            p = root / rel
            if not p.is_file():
                found[key] = None
                continue
            try:
                found[key] = _read_csv(p) if p.suffix == ".csv" else json.loads(p.read_text())
            except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as err:
                raise KwsError(f"{p}: unreadable ({err}); rerun its stage: "
                               f"dvc repro -f {SOURCES[key][1]}") from None
        return cls(root, found)

    def __getitem__(self, key: str) -> Any:
        return self.found.get(key)

    def missing(self, *keys: str) -> Optional[str]:
        """One line naming the stage to run when any of ``keys`` is absent; None when all exist."""
        gone = [k for k in keys if self.found.get(k) is None]
        if not gone:
            return None
        stages = list(dict.fromkeys(SOURCES[k][1] for k in gone))  # pipeline order
        files = ", ".join(f"`reports/{SOURCES[k][0]}`" for k in gone)
        run = " ".join(stages)
        return f"_Not in this run: {files} missing. Run `dvc repro {run}` to fill this section._"


# ---------------------------------------------------------------------------- formatting
def pct(x: Optional[float], digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def kib(n: Optional[float]) -> str:
    return "n/a" if n is None else f"{n / 1024:.1f} KiB"


def num(n: Optional[float]) -> str:
    if n is None:
        return "n/a"
    return f"{n:,.0f}" if abs(n) >= 100 else f"{n:.3g}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    _plt().close(fig)


def fig_dataset(feat: dict, path: Path) -> None:
    plt = _plt()
    labels = feat["labels"]
    splits = [s for s in ("train", "validation", "test") if s in feat["clips"]]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(splits)
    for i, s in enumerate(splits):
        counts = [feat["clips"][s].get(lab, 0) for lab in labels]
        ax.bar([j + i * width for j in range(len(labels))], counts, width, label=s)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels, rotation=45,
                  ha="right")
    ax.set_ylabel("clean clips")
    ax.set_title("Clips per label and split (before augmentation)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    ax.legend(ncol=len(splits), loc="upper right")
    _save(fig, path)


def fig_board(rows: list[tuple[str, float, float]], path: Path) -> None:
    """rows: (name, flash %, RAM %) of the board."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], [r[1] for r in rows], 0.4, label="flash")
    ax.barh([y - 0.2 for y in ys], [r[2] for r in rows], 0.4, label="RAM")
    ax.set_yticks(list(ys), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("% of the board")
    ax.set_title("Share of the board's flash and RAM")
    ax.legend(loc="lower right")
    _save(fig, path)


def fig_latency(rows: list[tuple[str, dict]], path: Path) -> None:
    """rows: (where, {stage: ms}), drawn as stacked horizontal bars on a log axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(rows) + 1.5))
    colours = {"features": "tab:green", "network": "tab:blue", "postprocess": "tab:orange"}
    seen = set()
    for y, (where, stages) in enumerate(rows):
        left = 0.0
        for st, ms in stages.items():
            ax.barh(y, ms, left=left, color=colours.get(st, "tab:gray"),
                    label=None if st in seen else st)
            seen.add(st)
            left += ms
        ax.text(left, y, f" {left:.3g} ms", va="center")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("ms per inference (MCU: per 1 s window; streaming: per step)")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.15)
    ax.set_title("Latency: host CPU vs emulated Cortex-M4")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=8)
    _save(fig, path)


def fig_quant(ptq: Optional[list], qat: Optional[list], mini: Optional[list],
              float_acc: Optional[float], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for rows, prefix, style in ((ptq, "ptq", "--"), (qat, "qat", "-")):
        if not rows:
            continue
        for scheme in ("symmetric", "asymmetric"):
            col = f"{prefix}_{scheme}"
            pts = [(r["bits"], r[col]) for r in rows if r.get(col) is not None]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", label=f"{prefix.upper()} {scheme}")
    if mini:
        for method, marker in (("ptq", "^"), ("qat", "v")):
            pts = [(r["bits"], r["accuracy"], r["format"]) for r in mini if r["method"] == method]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, s=60,
                           zorder=3, label=f"minifloat {method.upper()}")
        # one label per format, below its lowest marker; formats of the same width stacked
        lowest: dict = {}
        for r in mini:
            if r["method"] in ("ptq", "qat"):
                key = (r["bits"], r["format"])
                lowest[key] = min(lowest.get(key, 2.0), r["accuracy"])
        stacked: dict = {}
        for (b, f), a in lowest.items():
            k = stacked[b] = stacked.get(b, -1) + 1
            ax.annotate(f, (b, a), textcoords="offset points", xytext=(5, -10 - 9 * k),
                        fontsize=7)
    if float_acc is not None:
        ax.axhline(float_acc, color="k", lw=0.8, ls=":", label="float32")
    ax.set_xlabel("bits (weights and activations)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("PTQ vs QAT vs minifloat: accuracy vs bit width")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    _save(fig, path)


def fig_prune(un: Optional[list], st: Optional[list], path: Path) -> None:
    plt = _plt()
    xs = [("params", "parameters (unstructured: non-zero)", True),
          ("flops", "FLOPs", False), ("cpu_ms", "CPU ms (float, batch 1)", False),
          ("mcu_ms", "emulated MCU network ms", False)]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), sharey=True)
    for ax, (x, label, with_un) in zip(axes, xs):
        if with_un and un:
            for col, style, colour in (("unstructured_pruned", ":", "0.55"),
                                       ("unstructured_finetuned", "-", "k")):
                pts = sorted((r["params"], r[col]) for r in un if r.get(col) is not None)
                if pts:
                    ax.plot(*zip(*pts), style, marker="s", ms=3, color=colour,
                            label=col.replace("_", " "))
        if st:
            norms = sorted({k.rsplit("_", 1)[0] for k in st[0] if k.endswith("_finetuned")})
            for i, n in enumerate(norms):
                for kind, style in (("pruned", "--"), ("finetuned", "-")):
                    col = f"{n}_{kind}"
                    pts = sorted((r[x], r[col]) for r in st
                                 if r.get(x) is not None and r.get(col) is not None)
                    if pts:
                        ax.plot(*zip(*pts), style, marker="o", ms=3, color=f"C{i}",
                                label=f"{n} {kind}")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=6)
    fig.suptitle("Pruning: accuracy vs size, compute and time (dashed: no fine-tuning)")
    _save(fig, path)


# ---------------------------------------------------------------------------- sections
@dataclass
class Page:
    inp: Inputs
    fig_dir: Path        # where this stage writes its figures
    rel_figs: str        # fig_dir as linked from README.md
    parts: list = field(default_factory=list)
    plot_rows: dict = field(default_factory=lambda: {"board": [], "latency": [], "accuracy": []})
    board_bars: list = field(default_factory=list)  # (name, flash %, RAM %) for board.png

    def add(self, *text: str) -> None:
        self.parts.extend(text)

    def img(self, name: str, alt: str, prefix: Optional[str] = None) -> str:
        return f"![{alt}]({prefix if prefix is not None else self.rel_figs}/{name})"


def section_data(pg: Page) -> None:
    pg.add("## 1. The data set")
    d, f = pg.inp["data"], pg.inp["features"]
    if d is None and f is None:
        pg.add(pg.inp.missing("data", "features"))
        return
    if d:
        src = d.get("source", "?")
        synth = d.get("synthetic") or {}
        engine = f", spoken by {synth['engine']}" if synth.get("engine") else ""
        sp = d.get("speakers") or {}
        pg.add(f"Source: **{src}**{engine}; {num(d['clips']['total'])} clips of "
               f"{d.get('words', '?')} words, {sp.get('train', '?')}/{sp.get('validation', '?')}/"
               f"{sp.get('test', '?')} speakers in train/validation/test "
               f"({d.get('speakers_in_more_than_one_split', '?')} speakers in more than one "
               f"split), {d.get('background_noise_files', 0)} background noise files, "
               f"{d.get('skipped', {}).get('count', 0)} files skipped.")
    if f:
        labels = f["labels"]
        rows = [[lab] + [f["clips"][s].get(lab, 0) for s in ("train", "validation", "test")]
                for lab in labels]
        totals = [sum(f["clips"][s].values()) for s in ("train", "validation", "test")]
        rows.append(["**total**"] + [f"**{t}**" for t in totals])
        pg.add(f"{len(labels)} classes (`_silence_`, `_unknown_` and {len(labels) - 2} "
               f"keywords). Training examples after augmentation: "
               f"{num(f['examples']['train'])} ({f.get('augmented_copies', 0)} augmented copies "
               f"of each clean clip plus the clip itself); validation and test stay clean.",
               table(["label", "train", "validation", "test"], rows))
        fig_dataset(f, pg.fig_dir / "dataset.png")
        pg.add(pg.img("dataset.png", "clips per label and split"))
        pg.add(f"_What it means_: the classes are balanced by construction "
               f"({pct(f['share']['train'].get('_silence_'), 0)} silence and "
               f"{pct(f['share']['train'].get('_unknown_'), 0)} unknown in every split), "
               "so plain accuracy is a fair summary.")
    else:
        pg.add(pg.inp.missing("features"))


def section_views(pg: Page) -> None:
    pg.add("## 2. Five views of the audio")
    views = pg.inp.root / "figures" / "views"
    pngs = sorted(views.glob("*.png")) if views.is_dir() else []
    if not pngs:
        pg.add("_Not in this run: `reports/figures/views/` is empty. "
               "Run `dvc repro featurize` to fill this section._")
        return
    first = next((p for p in pngs if not p.stem.startswith("_")), pngs[0])
    pg.add("Waveform, magnitude spectrum, spectrogram, log-mel spectrogram and the 49x10 MFCC "
           f"the model sees, for one test clip of `{first.stem}`:",
           pg.img(first.name, f"five views of {first.stem}", "figures/views"),
           "Other labels: " + ", ".join(f"[{p.stem}](figures/views/{p.name})" for p in pngs),
           "_What it means_: the MFCC keeps the spectral envelope of each 40 ms frame in 10 "
           "numbers; the word's shape over time survives, pitch and fine detail do not.")


def _lit() -> dict:
    try:
        return json.loads(LITERATURE.read_text())["models"]
    except (OSError, ValueError, KeyError):
        return {}


def section_size(pg: Page) -> None:
    pg.add("## 3. Size, compute and memory on the board")
    prof, models = pg.inp["profile"], pg.inp["models"]
    if prof is None:
        pg.add(pg.inp.missing("profile"))
        return
    b = prof["board"]
    pg.add(f"Board: **{b['name']}** ({b['mcu']}, {b['core']} at {b['clock_mhz']} MHz, "
           f"{kib(b['flash_bytes'])} flash, {kib(b['ram_bytes'])} RAM). Conventions: "
           f"FLOPs = {prof['conventions']['flops']}; peak RAM = {prof['conventions']['peak_ram']}.")
    rows = []
    for m in models or []:
        fl8 = m["flash_int8_bytes"] / b["flash_bytes"]
        ram8 = m["peak_ram_int8_bytes"] / b["ram_bytes"]
        rows.append([f"`{m['arch']}`" + (" (trained)" if str(m.get("trained")) == "True" else ""),
                     num(m["params"]), num(m["macs"]), num(m["flops"]),
                     f"{kib(m['flash_int8_bytes'])} ({pct(fl8)})",
                     f"{kib(m['flash_fp32_bytes'])} ({pct(m['flash_fp32_bytes'] / b['flash_bytes'])})",
                     f"{kib(m['peak_ram_int8_bytes'])} ({pct(ram8)})",
                     f"{kib(m['peak_ram_fp32_bytes'])} ({pct(m['peak_ram_fp32_bytes'] / b['ram_bytes'])})"])
        pg.plot_rows["board"] += [
            {"point": f"{m['arch']} int8 flash", "percent": round(100 * fl8, 3)},
            {"point": f"{m['arch']} int8 peak RAM", "percent": round(100 * ram8, 3)}]
        pg.board_bars.append((f"{m['arch']} int8 (weights, activations)", 100 * fl8, 100 * ram8))
    if rows:
        pg.add("Computed from the PyTorch graph as deployed (BatchNorm folded) at batch 1; "
               "flash = weights only:",
               table(["model", "params", "MACs", "FLOPs", "flash int8", "flash fp32",
                      "peak RAM int8", "peak RAM fp32"], rows))
    fw = pg.inp["firmware"]
    if fw:
        pg.add(f"Measured on the Cortex-M4 firmware (ELF sections + stack watermark, "
               f"`reports/firmware/metrics.json`): **flash {kib(fw['flash_bytes'])} "
               f"({pct(fw['flash_bytes'] / b['flash_bytes'])})**, **RAM {kib(fw['ram_bytes'])} "
               f"({pct(fw['ram_bytes'] / b['ram_bytes'])})** for features + network + "
               f"post-processing (activation arena {num(fw.get('arena_bytes'))} B vs TFLM's "
               f"{num(fw.get('tflm_arena_bytes'))} B).")
        pg.plot_rows["board"] += [
            {"point": "firmware flash (measured)",
             "percent": round(100 * fw["flash_bytes"] / b["flash_bytes"], 3)},
            {"point": "firmware RAM (measured)",
             "percent": round(100 * fw["ram_bytes"] / b["ram_bytes"], 3)}]
        pg.board_bars.append(("firmware (measured ELF)", 100 * fw["flash_bytes"] / b["flash_bytes"],
                              100 * fw["ram_bytes"] / b["ram_bytes"]))
    else:
        pg.add(pg.inp.missing("firmware").replace("this section", "the measured firmware size"))
    lit = _lit()
    lrows = []
    for arch, m in lit.items():
        ours = next((r for r in models or [] if r["arch"] == arch), None)
        for fig in m.get("figures", []):
            what = fig["what"]
            key = {"params": "params", "macs": "macs", "ops": "flops",
                   "params_derived_49x10": "params", "macs_derived_49x10": "macs",
                   "macs_derived": "macs"}.get(what)
            mine = ours.get(key) if ours and key else None
            if what.startswith("accuracy"):
                t = pg.inp["train"] or {}
                mine = t.get("test_accuracy") if arch == prof["arch"] else None
                mine_s = pct(mine) + " (this run's test split)" if mine else ""
                if mine and t.get("real_sample_accuracy") is not None:
                    mine_s += f"; {pct(t['real_sample_accuracy'])} on real recordings"
                shown = pct(fig["value"])
            else:
                shown, mine_s = num(fig["value"]), num(mine) if mine is not None else ""
            src = next((s for s in m.get("sources", []) if s["key"] == fig["source"]), None)
            cite = f"[{src['short']}]({src['url']})" if src else fig["source"]
            lrows.append([f"`{arch}`", what, shown, mine_s,
                          "yes" if fig.get("verified") else "no", cite])
    if lrows:
        pg.add("Literature (cited figures from `kws/literature.json`; 'checked' says whether the "
               "figure was read in the source; 'derived' rows are computed from the published "
               "architecture):",
               table(["model", "figure", "cited", "this run", "checked", "source"], lrows))
    if pg.board_bars:
        fig_board(pg.board_bars, pg.fig_dir / "board.png")
        pg.add(pg.img("board.png", "share of the board"))
    if models:
        me = next((m for m in models if m["arch"] == prof["arch"]), models[0])
        pg.add(f"_What it means_: the int8 `{me['arch']}` needs {pct(me['flash_int8_bytes'] / b['flash_bytes'])} "
               f"of the flash and {pct(me['peak_ram_int8_bytes'] / b['ram_bytes'])} of the RAM "
               "for its weights and activations, so memory is not what limits this board; "
               "compute (MACs) is, see the latency section.")


def section_latency(pg: Page) -> None:
    pg.add("## 4. Latency: CPU/GPU vs the emulated microcontroller")
    prof, fw = pg.inp["profile"], pg.inp["firmware"]
    if prof is None and fw is None:
        pg.add(pg.inp.missing("profile", "firmware"))
        return
    bars = []
    rows = []
    if prof:
        for dev in ("cpu", "cuda"):
            lat = (prof.get("latency") or {}).get(dev)
            if lat:
                where = f"{dev.upper()} float32 (torch, {lat.get('num_threads', '?')} thread(s))"
                rows.append([where, "network", f"{lat['median_ms']:.3f}",
                             f"{lat.get('iqr_ms', 0):.3f}", "measured", ""])
                bars.append((where, {"network": lat["median_ms"]}))
                pg.plot_rows["latency"].append({"point": f"{dev} network", "ms": round(lat["median_ms"], 4)})
        if not (prof.get("latency") or {}).get("cuda"):
            pg.add("No GPU on this machine: the CUDA row is absent (`train.device: auto` uses "
                   "one when present).")
    if fw:
        clock = fw.get("clock_hz", 64_000_000) / 1e6
        stages = fw["stages"]
        for st in ("features", "network", "postprocess"):
            s = stages.get(st)
            if s:
                extra = ""
                if st == "network":
                    extra = f"{fw['network']['dsp']['cycles_per_mac']:.2f} cycles/MAC"
                elif st == "features" and "cycles_per_frame" in s:
                    extra = f"{num(s['cycles_per_frame'])} cycles/frame"
                rows.append([f"Cortex-M4 {clock:g} MHz (emulated)", st, f"{s['ms']:.2f}", "",
                             f"{num(s['cycles'])} cycles (model)", extra])
                pg.plot_rows["latency"].append({"point": f"mcu {st}", "ms": round(s["ms"], 4)})
        port = fw["network"].get("portable")
        if port:
            rows.append([f"Cortex-M4 {clock:g} MHz (emulated), portable C", "network",
                         f"{port['ms']:.2f}", "", f"{num(port['cycles'])} cycles (model)",
                         f"{port['cycles_per_mac']:.2f} cycles/MAC"])
        bars.append((f"Cortex-M4 {clock:g} MHz (emulated)",
                     {st: stages[st]["ms"] for st in ("features", "network", "postprocess")
                      if st in stages}))
    step = _stream_step(pg.inp["stream"])
    if step:
        clock = step["clock_hz"] / 1e6
        where = f"Cortex-M4 {clock:g} MHz (emulated), streaming step"
        for st, name in (("features", f"features ({step['new_frames']} new frames)"),
                         ("network", "network"), ("postprocess", "postprocess")):
            rows.append([where, name, f"{step['ms'][st]:.2f}", "",
                         f"{num(step['cycles'][st])} cycles (model)",
                         f"{num(step['features_cycles_per_frame'])} cycles/frame"
                         if st == "features" else ""])
            pg.plot_rows["latency"].append({"point": f"mcu stream step {st}",
                                            "ms": round(step["ms"][st], 4)})
        bars.append((f"Cortex-M4, streaming step every {step['period_ms']} ms",
                     {st: step["ms"][st] for st in ("features", "network", "postprocess")}))
    pg.add(table(["where", "stage", "ms (median)", "IQR ms", "how", "per unit"], rows))
    if fw:
        pg.add(f"**The MCU figures are a model, not a board measurement.** "
               f"{fw.get('timing_note', '')}")
    else:
        pg.add(pg.inp.missing("firmware").replace("this section", "the MCU rows and stage breakdown"))
    if bars:
        fig_latency(bars, pg.fig_dir / "latency.png")
        pg.add(pg.img("latency.png", "latency"))
    if prof and not fw and prof.get("latency", {}).get("cpu"):
        pg.add(f"_What it means_: on the host CPU one inference takes "
               f"{prof['latency']['cpu']['median_ms']:.2f} ms for {num(prof['macs'])} MACs; "
               "the microcontroller figure needs the firmware stage.")
    if prof and fw:
        cpu = prof["latency"]["cpu"]["median_ms"]
        total = fw.get("total_ms") or sum(s["ms"] for s in fw["stages"].values())
        pg.add(f"_What it means_: the network runs about {fw['stages']['network']['ms'] / cpu:.0f}x "
               f"slower on the {clock:g} MHz Cortex-M4 than on the host CPU; one full 1 s window "
               f"(features + network + post-processing) takes {total:.1f} ms, "
               f"{'well within' if total < 1000 else 'more than'} the 1 s of audio it covers."
               + (_stream_budget(step) if step else _streaming(fw, clock)))


def _streaming(fw: dict, clock_mhz: float) -> str:
    """Streaming cost: a device computes one new MFCC frame per stride, not the whole window."""
    per_frame = fw["stages"]["features"].get("cycles_per_frame")
    if not per_frame:
        return ""
    frame_ms = per_frame / (clock_mhz * 1e3)
    net = fw["stages"]["network"]["ms"] + fw["stages"].get("postprocess", {}).get("ms", 0.0)
    return (f" Streaming, as the Arduino sketch runs, each stride needs one new MFCC frame "
            f"({frame_ms:.2f} ms) and, per inference, the network and post-processing "
            f"({net:.1f} ms).")


def _stream_step(st: Optional[dict]) -> Optional[dict]:
    return ((st or {}).get("emulated") or {}).get("step")


def _stream_budget(step: dict) -> str:
    """The measured streaming step (stream stage): new frames + network + smoothing."""
    return (f" Streaming, as the board runs (the stream stage, `kws_stream.c`), one step every "
            f"{step['period_ms']} ms computes {step['new_frames']} new MFCC frames "
            f"({step['ms']['features']:.1f} ms), the network ({step['ms']['network']:.1f} ms) and "
            f"the smoothing ({step['ms']['postprocess']:.2f} ms): {step['ms']['total']:.1f} ms, a "
            f"duty cycle of {pct(step['duty_cycle'])} and {pct(step['headroom'])} headroom "
            "(section 9).")


def fig_det(syn: list, real: Optional[list], chosen: Optional[float], target: Optional[float],
            path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for rows, name, style in ((syn, "synthetic stream", "-"), (real, "real-clip stream", "--")):
        pts = [(r["fa_per_hour"], r["miss_rate"]) for r in sorted(
            rows or [], key=lambda r: r["threshold"])
            if r.get("fa_per_hour") is not None and r.get("miss_rate") is not None]
        if pts:  # in threshold order
            ax.plot(*zip(*pts), style, marker=".", ms=3, label=name)
        at = [r for r in rows or [] if chosen is not None and abs(r["threshold"] - chosen) < 1e-6]
        if at:
            ax.plot(at[0]["fa_per_hour"], at[0]["miss_rate"], "o", ms=7, mfc="none", color="k")
            ax.annotate(f"{at[0]['threshold']:.4g}", (at[0]["fa_per_hour"], at[0]["miss_rate"]),
                        textcoords="offset points", xytext=(6, 4), fontsize=7)
    if target:
        ax.axvline(target, color="tab:red", lw=0.8, ls=":", label=f"target {target:g} FA/h")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("false accepts per hour (symlog: linear below 1)")
    ax.set_ylabel("miss rate")
    ax.set_ylim(0, 1.02)
    ax.set_title("Streaming DET over detection thresholds (circle: the chosen threshold)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def _span(v) -> str:
    return f"{v[0]:g}-{v[1]:g}" if isinstance(v, (list, tuple)) and len(v) == 2 else str(v)


def _ms(d: Optional[dict], key: str) -> str:
    v = (d or {}).get(key)
    return "n/a" if v is None else f"{v:.0f}"


def section_stream(pg: Page) -> None:
    pg.add("## 9. Always-on detection: hit rate, false accepts per hour, real-time budget")
    st = pg.inp["stream"]
    if st is None:
        pg.add(pg.inp.missing("stream"))
        return
    syn, real, th = st["synthetic"], st.get("real"), st["threshold"]
    cfg = st.get("settings", {})
    pg.add(f"The stream stage plays long streams through the firmware's streaming recognizer "
           f"(`firmware/runtime/kws_stream.c`: new MFCC frames only, the network every "
           f"{cfg.get('period_ms')} ms, posteriors averaged over {cfg.get('average_window_ms')} ms, "
           f"suppression {cfg.get('suppression_ms')} ms) in the host build, and replays the "
           "network's outputs through the same C recognizer at every threshold. The synthetic "
           f"stream: {syn['minutes']:.0f} min of test-split words ({syn['keyword_words']} keywords, "
           f"{syn['unknown_words']} other words) over background noise changing every few seconds "
           f"({_span(cfg.get('snr_db'))} dB below speech, {pct(cfg.get('silence_share'), 0)} near "
           f"silence), {pct(cfg.get('reverb_probability'), 0)} of the words reverberant"
           + (f"; the real-clip stream: {real['minutes']:.0f} min of the {real['words']} real "
              "recordings, each once." if real else "; no real-clip stream in this run.")
           + f" Threshold {th['chosen']:.4g}: {th['how']}.")
    rows = []
    for name, s in (("synthetic", syn), ("real clips", real)):
        if not s:
            continue
        d = s["delay_after_word_end"]
        rows.append([name, f"{s['minutes']:.1f}", s["keywords"], f"{s['threshold']:.4g}",
                     pct(s["hit_rate"]), f"{s['fa_per_hour']:.2f}", _ms(d, "median_ms"),
                     _ms(d, "p90_ms"), s["repeats"]])
    pg.add(table(["stream", "minutes", "keywords", "threshold", "hit rate", "false accepts/h",
                  "delay median ms", "delay p90 ms", "repeats"], rows))
    bar = st.get("bar", {})
    at = syn.get("at_params_threshold")
    other = (f" At `stream.detection_threshold` {at['threshold']:.4g} (the firmware stage's "
             f"builds): hit rate {pct(at['hit_rate'])} at {at['fa_per_hour']:.2f} false accepts "
             "per hour." if at and at.get("hit_rate") is not None else "")
    pg.add(f"The bar (at most {bar.get('fa_per_hour_max', 1):g} false accept per hour with a hit "
           f"rate of at least {pct(bar.get('hit_rate_min', 0.9), 0)} on the synthetic stream) is "
           f"**{'met' if bar.get('met') else 'not met'}**.{other} Delay: detection time minus "
           "the end of the word. " + st.get("rules", "").rstrip(".") + ".")
    per_s, per_r = syn.get("per_keyword", {}), (real or {}).get("per_keyword", {})
    if per_s:
        krows = []
        for k, v in per_s.items():
            r = per_r.get(k, {})
            krows.append([k, v["keywords"], pct(v["hit_rate"]), f"{v['fa_per_hour']:.2f}",
                          _ms(v["delay_after_word_end"], "median_ms"),
                          pct(r.get("hit_rate")) if r else "n/a",
                          f"{r['fa_per_hour']:.2f}" if r.get("fa_per_hour") is not None else "n/a"])
        pg.add(table(["keyword", "synthetic: keywords", "hit rate", "FA/h", "delay median ms",
                      "real: hit rate", "real: FA/h"], krows))
    bands = syn.get("hit_rate_by_snr")
    if bands:
        pg.add("Hit rate by the word's SNR (synthetic stream): " + ", ".join(
            f"{b} {pct(v['hit_rate'])} of {v['keywords']}" for b, v in bands.items()
            if v["keywords"]) + ". False accepts land on "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in syn["false_accepts_on"].items())
            + ".")
    if pg.inp["stream_det"]:
        fig_det(pg.inp["stream_det"], pg.inp["stream_det_real"], th.get("chosen"),
                th.get("target_fa_per_hour"), pg.fig_dir / "det.png")
        pg.add(pg.img("det.png", "streaming DET curve"))
    e = st.get("emulated")
    if e:
        step = e["step"]
        fw = pg.inp["firmware"]
        clip = ""
        if fw:
            tot = fw.get("total_ms") or sum(v["ms"] for v in fw["stages"].values())
            clip = (f" The clip-based figure beside it (section 4): one whole 1 s window, every "
                    f"frame recomputed, plus the network and post-processing, takes {tot:.1f} ms.")
        pg.add(table(["streaming step (Cortex-M4 model)", "cycles", f"ms at {step['clock_hz'] / 1e6:g} MHz"],
                     [[f"{step['new_frames']} new MFCC frames "
                       f"({num(step['features_cycles_per_frame'])} cycles/frame)",
                       num(step["cycles"]["features"]), f"{step['ms']['features']:.2f}"],
                      ["network", num(step["cycles"]["network"]), f"{step['ms']['network']:.2f}"],
                      ["smoothing (RecognizeCommands)", num(step["cycles"]["postprocess"]),
                       f"{step['ms']['postprocess']:.3f}"],
                      ["**step**", num(step["cycles"]["total"]), f"**{step['ms']['total']:.2f}**"]]))
        pg.add(f"_Real-time budget_: a step every {step['period_ms']} ms keeps the CPU busy "
               f"{pct(step['duty_cycle'])} of the time: **{pct(step['headroom'])} headroom** for "
               f"the microphone, BLE and the application (modelled cycles, not a board "
               f"measurement; the streaming state takes {e['stream_state_bytes']:,} B of RAM)." + clip
               + f" Host and emulated Cortex-M4 decisions on the first {e['seconds_of_stream']:.0f} s "
               f"of the synthetic stream at threshold {e.get('threshold', 0):.4g} "
               f"({e['inferences']} inferences, {e['keyword_detections']} "
               f"keyword detections): **{'identical' if e['decisions_identical'] else 'DIFFERENT'}** "
               "(times, the network input (every frame, by hash), network scores, labels, score "
               "bits, detections).")
    if st.get("notes"):
        pg.add("Notes: " + "; ".join(st["notes"]) + ".")


def section_training(pg: Page) -> None:
    pg.add("## 5. Training and accuracy")
    t = pg.inp["train"]
    if t is None:
        pg.add(pg.inp.missing("train"))
        return
    pg.add(f"`{t['arch']}`, {t['epochs']} epochs on {t['device']} ({t['train_seconds']:.0f} s), "
           f"best validation epoch {t['best_epoch']}: **test accuracy {pct(t['test_accuracy'])}** "
           f"(validation {pct(t['val_accuracy'])}, {t['clips']['test']} test clips).")
    figs = pg.inp.root / "figures"
    for name, alt in (("training_curves.png", "training curves"), ("confusion.png", "confusion")):
        if (figs / name).is_file():
            pg.add(pg.img(name, alt, "figures"))
    pg.plot_rows["accuracy"].append({"point": "float32 test (PyTorch)",
                                     "accuracy": t["test_accuracy"]})
    if t.get("real_sample_accuracy") is not None:
        pg.plot_rows["accuracy"].append({"point": "float32 real recordings",
                                         "accuracy": t["real_sample_accuracy"]})
    pca = t.get("per_class_accuracy") or {}
    real = t.get("real_sample") or {}
    rpc = real.get("per_class_accuracy") or {}
    rows = [[k, pct(v), pct(rpc.get(k)) if real else ""] for k, v in pca.items()]
    pg.add(table(["label", "test accuracy", "real recordings" if real else ""], rows))
    if t.get("real_sample_accuracy") is not None:
        ci = real.get("interval_95") or {}

        def with_ci(key: str, value) -> str:
            lo_hi = ci.get(key)
            return pct(value) + (f" (95% interval {pct(lo_hi[0])}-{pct(lo_hi[1])})"
                                 if lo_hi else "")

        pg.add(f"On {real.get('clips')} real Speech Commands recordings the model scores "
               f"**{with_ci('accuracy', t['real_sample_accuracy'])}**: "
               f"{with_ci('keyword_accuracy', real.get('keyword_accuracy'))} on "
               f"{real.get('keyword_clips')} keyword clips, "
               f"{with_ci('unknown_accuracy', real.get('unknown_accuracy'))} on "
               f"{real.get('unknown_clips')} other words. "
               "_What it means_: the gap to the test accuracy is the distance between the "
               "synthetic voices and real speakers; train on real data "
               "(`data.source: speech_commands`) to close it.")
    else:
        pg.add("Real-recording accuracy: not measured (no `train.real_samples_dir` on this "
               "machine).")


def section_int8(pg: Page) -> None:
    pg.add("## 6. Float vs int8")
    c = pg.inp["convert"]
    if c is None:
        pg.add(pg.inp.missing("convert"))
        return
    pg.plot_rows["accuracy"].append({"point": "int8 test (LiteRT)", "accuracy": c["int8_accuracy"]})
    rows = [["float32 (PyTorch)", pct(c["float_accuracy"]), "", ""],
            ["int8 TFLite (LiteRT)", pct(c["int8_accuracy"]), num(c["tflite_bytes"]) + " B",
             num(c["tflm_arena_bytes"]) + " B"]]
    pg.add(table(["model", "test accuracy", ".tflite size", "TFLM arena"], rows),
           f"Top-1 agreement int8 vs float: {pct(c['int8_float_top1_agreement'])}; LiteRT vs "
           f"the TFLM interpreter: {pct(c['litert_tflm_top1_agreement'])} top-1, at most "
           f"{c['litert_tflm_max_abs_diff_lsb']} LSB apart. Ops: "
           + ", ".join(f"{k} x{v}" for k, v in c["op_counts"].items())
           + (f"; layout ops: {', '.join(c['layout_ops'])}" if c.get("layout_ops") else
              "; no Transpose/Pad layout ops."),
           _firmware_agreement(pg.inp["firmware"]),
           f"_What it means_: full int8 changes test accuracy by "
           f"{c['int8_minus_float_points']:+.1f} points while the weights shrink about 4x.")


def _firmware_agreement(fw: Optional[dict]) -> str:
    """The firmware's C engine against TFLM (LiteRT before issue 18) and its C MFCC against
    Python, when it ran."""
    if not fw or not ("tflm" in fw or "litert" in fw):
        return ""
    lit, mf = fw.get("tflm") or fw["litert"], fw.get("mfcc") or {}
    who = "TFLM's" if "tflm" in fw else "LiteRT's"
    text = (f"The firmware's C engine gives {who} exact int8 outputs on "
            f"{lit.get('host_exact_clips')}/{lit.get('clips')} test clips (host build)"
            + (f", and the emulated Cortex-M4 build on {lit.get('emulated_clips')} clips "
               f"{'bit-exactly' if lit.get('emulated_bit_exact') else 'NOT bit-exactly'}"
               if lit.get("emulated_clips") else ""))
    if mf:
        frac = mf.get("identical_fraction")
        same = ">99.99%" if frac is not None and 0.9999 < frac < 1 else pct(frac, 2)
        text += (f"; its C MFCC equals the Python one in {same} "
                 f"of the quantized inputs (at most {mf.get('max_lsb')} LSB apart)")
    return text + "."


def section_quant(pg: Page) -> None:
    pg.add("## 7. PTQ vs QAT vs minifloat")
    ptq, qat, mini = pg.inp["ptq"], pg.inp["qat"], pg.inp["minifloat"]
    if not (ptq or qat or mini):
        pg.add(pg.inp.missing("ptq", "qat", "minifloat"))
        return
    float_acc = None
    if ptq and ptq[0].get("float") is not None:
        float_acc = ptq[0]["float"]
    elif mini:
        float_acc = next((r["accuracy"] for r in mini if r["method"] == "float"), None)
    bits = sorted({r["bits"] for r in (ptq or []) + (qat or [])})
    by = {}
    for rows, pre in ((ptq, "ptq"), (qat, "qat")):
        for r in rows or []:
            by.setdefault(r["bits"], {}).update({k: v for k, v in r.items() if k.startswith(pre)})
    cols = ["ptq_symmetric", "ptq_asymmetric", "qat_symmetric", "qat_asymmetric"]
    if bits:
        pg.add("Integer fake quantization (weights per channel, activations calibrated), test "
               "accuracy. Symmetric: zero point 0, signed weights, input and logits, and "
               "ReLU outputs on the unsigned range 0..2^b-1 (a signed range would leave a 2-bit "
               "ReLU output binary); asymmetric: a zero point per tensor. The network input and "
               "the logits stay at `io_bits`:",
               table(["bits", "PTQ symmetric", "PTQ asymmetric", "QAT symmetric",
                      "QAT asymmetric"], [[b] + [pct(by[b].get(c)) for c in cols] for b in bits]))
    if mini:
        pg.add("Minifloat ExMy formats (weights and activations, each tensor scaled so its "
               "largest magnitude lands on the format's largest normal). Why these formats: "
               "E4M3 and E5M2 are the two OCP 8-bit floats (E4M3: more precision, the usual "
               "inference choice; E5M2: more range), E3M2 is the OCP Microscaling FP6 and E2M1 "
               "its FP4, so the sweep walks the range-for-precision trade at 8, 6 and 4 bits:",
               table(["format", "bits", "method", "test accuracy"],
                     [[r["format"], r["bits"], r["method"], pct(r["accuracy"])] for r in mini]))
    missing = pg.inp.missing(*[k for k in ("ptq", "qat", "minifloat") if pg.inp[k] is None])
    if missing:
        pg.add(missing)
    fig_quant(ptq, qat, mini, float_acc, pg.fig_dir / "quantization.png")
    pg.add(pg.img("quantization.png", "accuracy vs bits"))
    if float_acc is not None and bits:
        def lowest(prefix):
            ok = [b for b in bits if any((by[b].get(f"{prefix}_{s}") or 0) >= float_acc - 0.01
                                         for s in ("symmetric", "asymmetric"))]
            return min(ok) if ok else None
        lp, lq = lowest("ptq"), lowest("qat")
        low = [b for b in bits if b <= 4]
        schemes = ("symmetric", "asymmetric")
        at_least = all(by[b][f"qat_{s}"] >= by[b][f"ptq_{s}"] for b in low for s in schemes
                       if by[b].get(f"qat_{s}") is not None and by[b].get(f"ptq_{s}") is not None)
        two = [v for v in (by.get(2, {}).get(f"qat_{s}") for s in schemes) if v is not None]
        extra = ""
        if low:
            extra = (f" QAT is {'at least as accurate as' if at_least else 'not always above'} "
                     f"PTQ at every width of 4 bits and below")
            if two:
                extra += f"; at 2 bits it keeps {pct(max(two))}"
                n_labels = len((pg.inp["train"] or {}).get("per_class_accuracy") or {})
                if n_labels:
                    extra += f" (a random guess among {n_labels} labels: {pct(1 / n_labels)})"
            extra += "."
        pg.add(f"_What it means_: within 1 point of float, PTQ goes down to "
               f"{lp if lp else 'no tested'} bits and QAT to {lq if lq else 'no tested'} bits; "
               "below that, fine-tuning with the quantizer in the loop is what keeps the model "
               "working." + extra)


def section_prune(pg: Page) -> None:
    pg.add("## 8. Pruning")
    un, st = pg.inp["prune_unstructured"], pg.inp["prune_structured"]
    if not (un or st):
        pg.add(pg.inp.missing("prune_unstructured", "prune_structured"))
        return
    if un:
        pg.add("Unstructured (global magnitude masks; the model keeps its shape):",
               table(["sparsity", "non-zero params", "pruned", "fine-tuned"],
                     [[r["sparsity"], num(r["params"]), pct(r.get("unstructured_pruned")),
                       pct(r.get("unstructured_finetuned"))] for r in un]))
    if st:
        norms = [k[:-len("_finetuned")] for k in st[0] if k.endswith("_finetuned")]
        header = ["channels removed", "params", "FLOPs", "CPU ms", "MCU ms", "flash B"]
        header += [f"{n} pruned / fine-tuned" for n in norms]
        rows = [[r["ratio"], num(r["params"]), num(r["flops"]),
                 "n/a" if r.get("cpu_ms") is None else f"{r['cpu_ms']:.3f}",
                 "n/a" if r.get("mcu_ms") is None else f"{r['mcu_ms']:.2f}",
                 num(r.get("flash_bytes"))]
                + [f"{pct(r.get(f'{n}_pruned'))} / {pct(r.get(f'{n}_finetuned'))}" for n in norms]
                for r in st]
        pg.add("Structured (output channels removed physically, ranked by norm):",
               table(header, rows))
    missing = pg.inp.missing(*[k for k in ("prune_unstructured", "prune_structured")
                               if pg.inp[k] is None])
    if missing:
        pg.add(missing)
    fig_prune(un, st, pg.fig_dir / "pruning.png")
    pg.add(pg.img("pruning.png", "pruning curves"))
    pg.add(_prune_meaning(un, st))


def _prune_meaning(un: Optional[list], st: Optional[list]) -> str:
    """One sentence from the sweep: the half-size points against the unpruned model."""
    said = []
    if un:
        half = [r for r in un if r.get("sparsity") == 0.5]
        if half:
            said.append(f"zeroing half of the weights leaves {pct(half[0].get('unstructured_pruned'))} "
                        f"accuracy, {pct(half[0].get('unstructured_finetuned'))} after fine-tuning, "
                        "but a dense kernel still does every multiply")
    if st:
        base = next((r for r in st if not r["ratio"]), None)
        half = next((r for r in st if r["ratio"] == 0.5), None)
        if base and half:
            norms = [k[:-len("_finetuned")] for k in half if k.endswith("_finetuned")]
            best = max(norms, key=lambda n: half.get(f"{n}_finetuned") or 0)
            when = ""
            if half.get("mcu_ms") and base.get("mcu_ms"):
                when = (f" and {half['mcu_ms']:.0f} instead of {base['mcu_ms']:.0f} ms on the "
                        "emulated MCU")
            said.append(f"removing half of the channels cuts FLOPs "
                        f"{base['flops'] / max(1, half['flops']):.1f}x{when}, at "
                        f"{pct(half.get(f'{best}_finetuned'))} accuracy after fine-tuning "
                        f"(best norm: {best})")
    if not said:
        return ("_What it means_: only structured removal makes the model smaller and faster; "
                "unstructured sparsity saves nothing on a dense kernel.")
    return "_What it means_: " + "; ".join(said) + "."


def stage_seconds(inp: Inputs) -> dict[str, Optional[float]]:
    """Each stage's wall time (the top-level ``seconds`` of its metrics.json), None if absent."""
    out = {}
    for st, key in STAGE_METRICS.items():
        m = inp[key]
        out[st] = float(m["seconds"]) if isinstance(m, dict) and "seconds" in m else None
    return out


def section_cost(pg: Page) -> None:
    pg.add("## 10. What this run cost")
    sec = stage_seconds(pg.inp)
    rows = [[st, "not run" if s is None else f"{s:,.0f}",
             "" if s is None else f"{s / 60:.1f}"] for st, s in sec.items()]
    done = [s for s in sec.values() if s is not None]
    rows.append(["**total**", f"**{sum(done):,.0f}**", f"**{sum(done) / 60:.1f}**"])
    pg.add("Wall time of each stage as it ran for this page (the top-level `seconds` of its "
           "`metrics.json`: process start to finish, imports included; the report stage "
           "itself takes a few seconds more).", table(["stage", "seconds", "minutes"], rows))


SECTIONS = (section_data, section_views, section_size, section_latency, section_training,
            section_int8, section_quant, section_prune, section_stream, section_cost)


def write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def build(reports: str | Path, fig_dir: str | Path, data_dir: str | Path,
          rel_figs: str = "figures/report") -> str:
    """Render every section from ``reports``; write figures to ``fig_dir`` and the dvc plot
    tables (board.csv, latency.csv, accuracy.csv) to ``data_dir``. Returns the markdown page."""
    inp = Inputs.load(reports)
    pg = Page(inp, Path(fig_dir), rel_figs)
    Path(fig_dir).mkdir(parents=True, exist_ok=True)
    t = inp["train"] or {}
    pg.add("# kws-mcu: results of this run",
           "Generated by the `report` stage (`dvc repro report`) from the files in `reports/`; "
           "do not edit by hand. Each section answers one hand-in question with this run's "
           "numbers" + (f" (model `{t['arch']}`, train seed {t.get('seed')})." if t else "."))
    for fn in SECTIONS:
        fn(pg)
    write_csv(Path(data_dir) / "board.csv", pg.plot_rows["board"], ["point", "percent"])
    write_csv(Path(data_dir) / "latency.csv", pg.plot_rows["latency"], ["point", "ms"])
    write_csv(Path(data_dir) / "accuracy.csv", pg.plot_rows["accuracy"], ["point", "accuracy"])
    return "\n\n".join(p for p in pg.parts if p) + "\n"
