"""The stream stage as a library call: build the streams, run the int8 model through the
streaming recognizer of the firmware's host build, score, calibrate the threshold, check the
emulated Cortex-M4 against the host, time a streaming step, and write the calibrated settings
and sketch."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from kws.errors import KwsError
from kws.stream import score as sc
from kws.stream import synth


def _clips_of(paths, words: list[str]) -> list[synth.Clip]:
    from kws.data.labels import label_of_word

    return [synth.Clip(p, p.split("/", 1)[0], label_of_word(p.split("/", 1)[0], words))
            for p in paths]


def _loader(root: Path, rate: int):
    from kws.audio import read_wav

    cache: dict[str, np.ndarray] = {}

    def load(path: str) -> np.ndarray:
        if path not in cache:
            cache[path] = np.asarray(read_wav(root / path, rate), np.float32)
        return cache[path]

    return load


def build_streams(raw_dir, real_dir: Optional[Path], params, labels) -> dict:
    """{'synthetic': (plan, audio), 'real': (plan, audio) or absent, 'notes': [...]}."""
    from kws.data.augment import usable_noises
    from kws.data.dataset import background_files, clips_by_split, list_clips
    from kws.audio import read_wav

    sp, data, rate = params.stream, params.data, params.features.sample_rate
    raw_dir = Path(raw_dir)
    noises = usable_noises([read_wav(p, rate) for p in background_files(raw_dir)], rate)
    keyword_labels = set(range(2, len(labels)))
    out, notes = {}, []
    test = clips_by_split(raw_dir)["test"]
    clips = _clips_of(test, list(data.words))
    if not any(c.label in keyword_labels for c in clips):
        raise KwsError(f"{raw_dir}: the test split has no keyword clips to build a stream from")
    load = _loader(raw_dir, rate)
    p = synth.plan(synth.SYNTHETIC, clips, keyword_labels, len(noises), sp, data.seed, load,
                   seconds=sp.minutes * 60, sample_rate=rate)
    out["synthetic"] = (p, synth.render(p, load, noises, sp, data.seed))
    if not noises:
        notes.append(f"{raw_dir}: no _background_noise_ files: the streams have no background")
    if sp.real and real_dir is not None and real_dir.is_dir():
        load_r = _loader(real_dir, rate)
        ok, bad = [], []
        for c in list_clips(real_dir):
            try:
                load_r(c)
                ok.append(c)
            except KwsError as err:
                bad.append(f"{c}: {err}")
        if ok:
            clips_r = _clips_of(ok, list(data.words))
            pr = synth.plan(synth.REAL, clips_r, keyword_labels, len(noises), sp, data.seed,
                            load_r, seconds=None, sample_rate=rate)
            out["real"] = (pr, synth.render(pr, load_r, noises, sp, data.seed))
        if bad:
            notes.append(f"{len(bad)} real clips unreadable, skipped (e.g. {bad[0]})")
    elif sp.real:
        notes.append(f"train.real_samples_dir {real_dir} not found: no real-clip stream"
                     if real_dir is not None else "train.real_samples_dir is null: no real-clip stream")
    out["notes"] = notes
    return out


def _write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _round(x, n=4):
    return None if x is None else round(float(x), n)


def evaluate(binary, audio, plan, params, labels, thresholds, operating: Optional[float] = None,
             spec=None, n_out: int = 12) -> dict:
    """Network scores over the stream (``stream.workers`` host processes), the recognizer
    replayed at every threshold, DET rows; the full score at ``operating`` (or the chosen one)."""
    from kws.firmware import host

    sp = params.stream
    keyword_labels = set(range(2, len(labels)))
    t0 = time.perf_counter()
    times, scores = host.stream_scores(binary, audio, n_out, spec, sp.period_ms, sp.workers)
    t_net = time.perf_counter() - t0
    grid = list(thresholds)
    extra = [float(np.float32(x)) for x in (sp.detection_threshold, operating) if x is not None]
    all_t = grid + [x for x in extra if x not in grid]
    t0 = time.perf_counter()
    dets = host.replay(binary, times, scores, all_t)
    t_replay = time.perf_counter() - t0
    hours = plan.seconds / 3600.0
    rows = sc.det_rows(grid, dets[:len(grid)], plan.words, labels, keyword_labels, hours,
                       sp.hit_window_ms)
    return {"times": times, "scores": scores, "dets": dict(zip(all_t, dets)), "rows": rows,
            "hours": hours, "seconds_network": t_net, "seconds_replay": t_replay}


def _summary(plan, ev, threshold: float, labels, sp) -> dict:
    d = ev["dets"][float(np.float32(threshold))]
    s = sc.score(d["time_ms"], d["label"], plan.words, labels, set(range(2, len(labels))),
                 ev["hours"], sp.hit_window_ms)
    kw = sum(1 for w in plan.words if w.label >= 2)
    s.update({"threshold": _round(threshold), "minutes": round(plan.seconds / 60, 2),
              "words": len(plan.words), "keyword_words": kw,
              "unknown_words": len(plan.words) - kw, "inferences": int(len(ev["times"]))})
    return s


def emulate(elf, binary, audio: np.ndarray, params, threshold: float, spec, n_out: int) -> dict:
    """The emulated Cortex-M4 build against the host build on the stream's start: every
    inference's time, network scores, label, score (bits) and detection; and the cycles of
    ``stream.timed_steps`` streaming steps (new frames + network + smoothing) timed at its end."""
    from kws.firmware import host
    from kws.firmware.emulator import Harness

    sp = params.stream
    rate = spec.sample_rate
    step = sp.period_ms * rate // 1000
    first = (spec.n_frames - 1) * spec.stride_samples + spec.window_samples
    # the body ends on an inference; the timed tail then holds exactly timed_steps steps
    m = max(0, int(np.ceil((sp.emulate_seconds * rate - first) / step)))
    tail = sp.timed_steps * step
    m = min(m, (len(audio) - first - tail) // step)  # a short stream: all of it
    if m < 0:
        raise KwsError(f"the synthetic stream ({len(audio) / rate:.1f} s) is too short to time "
                       f"{sp.timed_steps} streaming steps: raise stream.minutes")
    n = first + m * step + tail
    h = Harness(elf)
    t0 = time.perf_counter()
    rec, timed = h.run_stream(audio[:n], threshold, timed_tail=tail)
    seconds = time.perf_counter() - t0
    ref = host.stream(binary, audio[:n], n_out, threshold)
    same = {
        "inferences": bool(len(rec) == len(ref)),
        "time_ms": bool(len(rec) == len(ref) and np.array_equal(rec["time_ms"], ref["time_ms"])),
        "features": bool(len(rec) == len(ref) and np.array_equal(rec["input_hash"],
                                                                 ref["input_hash"])),
        "network_scores": bool(len(rec) == len(ref) and np.array_equal(rec["scores"], ref["scores"])),
        "labels": bool(len(rec) == len(ref) and np.array_equal(rec["label"], ref["label"])),
        "scores_bits": bool(len(rec) == len(ref) and np.array_equal(
            rec["score"].view(np.uint32), ref["score"].view(np.uint32))),
        "detections": bool(len(rec) == len(ref) and np.array_equal(rec["is_new"], ref["is_new"])),
    }
    n_steps, run = timed
    c = run.cycles
    frames = n_steps * (sp.period_ms // spec.stride_ms)
    clock = params.firmware.clock_hz
    per_step = {"features": c["features"] / n_steps, "network": c["network"] / n_steps,
                "postprocess": c["postprocess"] / n_steps}
    step_cycles = sum(per_step.values())
    step_ms = step_cycles / clock * 1e3
    return {
        "seconds_of_stream": round(n / rate, 2), "inferences": int(len(rec)),
        "detections": int(rec["is_new"].sum()),
        "keyword_detections": int((rec["is_new"].astype(bool) & (rec["label"] >= 2)).sum()),
        "frames_compared": int((len(rec) - 1) * (sp.period_ms // spec.stride_ms) + spec.n_frames)
        if len(rec) else 0,
        "threshold": _round(threshold), "identical": same,
        "decisions_identical": bool(all(same.values())),
        "emulator_seconds": round(seconds, 1),
        "step": {
            "period_ms": sp.period_ms, "new_frames": sp.period_ms // spec.stride_ms,
            "timed_steps": n_steps, "clock_hz": clock,
            "cycles": {k: int(round(v)) for k, v in per_step.items()} | {"total": int(round(step_cycles))},
            "ms": {k: v / clock * 1e3 for k, v in per_step.items()} | {"total": step_ms},
            "features_cycles_per_frame": c["features"] / frames,
            "duty_cycle": step_ms / sp.period_ms,
            "headroom": 1 - step_ms / sp.period_ms,
            "stack_bytes": int(run.stack_bytes),
        },
        "stream_state_bytes": h.stream_state_bytes,
    }


def write_settings(firmware_dir: Path, out: Path, params, threshold: float, note: str) -> Path:
    """``out/stream_settings.h`` with ``threshold`` and ``out/arduino/kws_mcu``: the firmware
    stage's sketch with that file in place (the one to upload)."""
    from kws.firmware.codegen import generate_stream_settings

    st = {k: getattr(params.stream, k) for k in ("period_ms", "average_window_ms",
                                                  "suppression_ms", "minimum_count")}
    st["detection_threshold"] = threshold
    text = generate_stream_settings(st, params.features.stride_ms, note)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stream_settings.h").write_text(text)
    src = Path(firmware_dir) / "arduino" / "kws_mcu"
    if not src.is_dir():
        raise KwsError(f"{src} not found: run the firmware stage first (dvc repro firmware)")
    dst = out / "arduino" / "kws_mcu"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    (dst / "stream_settings.h").write_text(text)
    return dst


def run_stage(params, firmware_dir, raw_dir, labels, out_dir, reports_dir,
              real_dir: Optional[Path] = None, save_audio: bool = False) -> dict:
    """Everything the stage does; returns metrics (reports_dir gets the DET tables)."""
    from kws.firmware import host
    from kws.firmware.toolchain import build_host

    sp, spec = params.stream, params.features
    firmware_dir, out_dir, reports_dir = Path(firmware_dir), Path(out_dir), Path(reports_dir)
    src = firmware_dir / "src"
    elf = firmware_dir / "cortex_m4" / "kws_m4.elf"
    for p in (src / "model.c", elf):
        if not p.is_file():
            raise KwsError(f"{p} not found: run the firmware stage first (dvc repro firmware)")
    if f"#define KWS_PERIOD_MS {sp.period_ms}\n" not in (src / "stream_settings.h").read_text():
        raise KwsError(f"{src / 'stream_settings.h'} was built with another stream.period_ms: "
                       "rerun the firmware stage (dvc repro firmware)")
    n_out = len(labels)
    timings = {}
    t0 = time.perf_counter()
    # the host build of the firmware's sources, with the DSP kernels' C models (the same bits
    # as the board's SIMD path and about 2x faster here than the portable kernels)
    binary = build_host(src, out_dir / "host" / "kws_host", extra_flags=["-DKWS_FORCE_DSP"])
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    streams = build_streams(raw_dir, real_dir, params, labels)
    timings["streams"] = time.perf_counter() - t0
    grid = sp.thresholds()
    metrics: dict = {"labels": list(labels), "notes": list(streams["notes"])}

    plan, audio = streams["synthetic"]
    ev = evaluate(binary, audio, plan, params, labels, grid, spec=spec, n_out=n_out)
    timings["synthetic_network"] = ev["seconds_network"]
    timings["synthetic_replay"] = ev["seconds_replay"]
    if sp.target_fa_per_hour is not None:
        row, met = sc.choose_threshold(ev["rows"], sp.target_fa_per_hour)
        chosen = float(np.float32(row["threshold"]))
        how = (f"the lowest threshold of stream.threshold_grid with at most "
               f"{sp.target_fa_per_hour:g} false accepts per hour on the synthetic stream (there "
               f"and at every higher threshold)" if met else
               f"no threshold of stream.threshold_grid reaches {sp.target_fa_per_hour:g} false "
               "accepts per hour on the synthetic stream: the highest one")
    else:
        chosen, met = float(np.float32(sp.detection_threshold)), None
        how = "stream.detection_threshold (stream.target_fa_per_hour is null)"
    if chosen not in ev["dets"]:
        ev["dets"][chosen] = host.replay(binary, ev["times"], ev["scores"], [chosen])[0]
    syn = _summary(plan, ev, chosen, labels, sp)
    syn["at_params_threshold"] = {
        k: v for k, v in _summary(plan, ev, sp.detection_threshold, labels, sp).items()
        if k in ("threshold", "hit_rate", "fa_per_hour", "false_accepts", "delay_after_word_end")}
    syn["reused_clips"] = plan.reused_clips
    metrics["synthetic"] = syn
    metrics["threshold"] = {"chosen": _round(chosen), "how": how, "target_met": met,
                            "target_fa_per_hour": sp.target_fa_per_hour,
                            "params_threshold": _round(sp.detection_threshold)}
    bar = {"fa_per_hour_max": 1.0, "hit_rate_min": 0.9}
    metrics["bar"] = bar | {"met": bool(syn["fa_per_hour"] <= bar["fa_per_hour_max"]
                                        and syn["hit_rate"] >= bar["hit_rate_min"])}
    _write_csv(reports_dir / "det_synthetic.csv", ev["rows"],
               ["threshold", "fa_per_hour", "miss_rate", "hit_rate", "false_accepts", "hits"])
    _write_truth(out_dir / "synthetic_truth.csv", plan, labels)
    _write_detections(out_dir / "synthetic_detections.csv", ev["dets"][chosen], plan, labels, sp)

    real_rows: list = []
    if "real" in streams:
        plan_r, audio_r = streams["real"]
        ev_r = evaluate(binary, audio_r, plan_r, params, labels, grid, operating=chosen,
                        spec=spec, n_out=n_out)
        timings["real_network"] = ev_r["seconds_network"]
        real = _summary(plan_r, ev_r, chosen, labels, sp)
        real["folder"] = str(real_dir)
        real["note"] = ("real recordings (each clip once, shuffled) over the same generated "
                        "background; few keywords and little time: wide error bars")
        metrics["real"] = real
        real_rows = ev_r["rows"]
        _write_truth(out_dir / "real_truth.csv", plan_r, labels)
        _write_detections(out_dir / "real_detections.csv", ev_r["dets"][chosen], plan_r, labels, sp)
    else:
        metrics["real"] = None
    _write_csv(reports_dir / "det_real.csv", real_rows,
               ["threshold", "fa_per_hour", "miss_rate", "hit_rate", "false_accepts", "hits"])

    if sp.emulate_seconds > 0:
        t0 = time.perf_counter()
        # at stream.detection_threshold (the firmware stage's builds'): more detections to
        # compare than at the calibrated one; the score bits of every inference are compared
        # too, so the decisions at any other threshold follow
        metrics["emulated"] = emulate(elf, binary, audio, params, sp.detection_threshold, spec,
                                      n_out)
        timings["emulator"] = time.perf_counter() - t0
        # the host's scores on that stretch also equal the parallel run's (pieces vs one process)
        e = metrics["emulated"]
        metrics["emulated"]["parallel_scores_equal"] = bool(np.array_equal(
            ev["scores"][:e["inferences"]], _host_scores(binary, audio, e, spec, n_out)))
    else:
        metrics["emulated"] = None

    write_settings(firmware_dir, out_dir, params, chosen,
                   f"params.yaml stream: with the threshold the stream stage chose ({how})")
    if save_audio:
        from kws.audio import write_wav

        write_wav(out_dir / "synthetic.wav", audio.astype(np.float32) / 32768.0, spec.sample_rate)
        if "real" in streams:
            write_wav(out_dir / "real.wav", streams["real"][1].astype(np.float32) / 32768.0,
                      spec.sample_rate)
    metrics["settings"] = {k: getattr(sp, k) for k in (
        "period_ms", "average_window_ms", "suppression_ms", "minimum_count", "hit_window_ms",
        "minutes", "seed", "keyword_share", "snr_db", "silence_share", "reverb_probability")}
    metrics["rules"] = ("hit: a detection of the keyword from its onset to stream.hit_window_ms "
                        "after its end; false accept: any other keyword detection (another "
                        "keyword's window: that keyword is also a miss unless detected; unknown "
                        "word; background); repeat: a second detection of an already-hit keyword "
                        "in its window (counted apart); delay: detection time minus the word's "
                        "end; _silence_/_unknown_ detections are not reported")
    metrics["timings_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    return metrics


def _host_scores(binary, audio, e: dict, spec, n_out: int) -> np.ndarray:
    from kws.firmware import host

    n = int(round(e["seconds_of_stream"] * spec.sample_rate))
    return host.stream(binary, audio[:n], n_out)["scores"]


def _write_truth(path: Path, plan, labels) -> None:
    rows = [{"onset_ms": round(w.onset_ms, 1), "offset_ms": round(w.offset_ms, 1),
             "label": labels[w.label], "word": w.word, "keyword": int(w.label >= 2),
             "snr_db": round(w.snr_db, 1), "gain_db": round(w.gain_db, 1),
             "rt60_s": "" if w.rt60_s is None else round(w.rt60_s, 3), "clip": w.path}
            for w in plan.words]
    _write_csv(path, rows, ["onset_ms", "offset_ms", "label", "word", "keyword", "snr_db",
                            "gain_db", "rt60_s", "clip"])


def _write_detections(path: Path, det, plan, labels, sp) -> None:
    m = sc.match(det["time_ms"], det["label"], plan.words, set(range(2, len(labels))),
                 sp.hit_window_ms)
    rows = [{"time_ms": int(t), "label": labels[int(k)], "score": round(float(s), 4),
             "outcome": o} for t, k, s, o in zip(det["time_ms"], det["label"], det["score"],
                                                   m["outcome"]) if o != "ignored"]
    _write_csv(path, rows, ["time_ms", "label", "score", "outcome"])
