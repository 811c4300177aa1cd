"""Benchmark: how well do models trained on synthetic speech recognize real voices?

    python -m kws.bench tts [--seeds 0 1 2] [--only a|b|c] [--speakers N] [--epochs N]
                            [--copies N] [--work build/bench_tts]

It builds three synthetic data sets from ``params.yaml`` and trains the same model
(``model:``, ``train:`` except ``epochs`` and ``seed``) on each with every training seed of
``--seeds`` (default 0 1 2), then prints ``real_sample_accuracy`` on the real Speech Commands
clips of ``train.real_samples_dir`` (mean, sample standard deviation, range) and the synthetic
test accuracy:

  (a) espeak-ng only, basic augmentation: ``data.synthetic.engines: [espeak-ng]``, jitter 0,
      none of the issue-16 keys, ``features.augment`` time shift + background noise by volume;
  (b) last week's default (issue 9): the four engines espeak-ng, flite, piper, hibari,
      ``jitter``, strong augmentation with its speed range 0.85-1.15, none of the issue-16 keys
      (every speaker says every word, no formant warp, no recognizer filter, augmented copies
      reuse their _unknown_ clip);
  (c) the params.yaml default as it is.

Everything else is the same: data seed, number of speakers, words, augmented copies, model,
epochs. Speakers, epochs and copies default to params.yaml's, so (c) is the pipeline's own data
and model (its seed-0 run is the train stage's ``real_sample_accuracy``). Each (variant, seed)
result is kept in ``--out`` with a hash of its whole params and reused while that hash is
unchanged; a variant's data set is reused from ``--work`` while its data and feature params are
unchanged. So ``--only c`` after editing a (c)-only key rebuilds and retrains (c) alone.
The bar: (c) at 0.80 or more as the mean over the seeds. Writes ``reports/bench/tts.json``.
CPU heavy: about 7 min per training and 5-9 min per data set on 2 cores at the defaults.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path

BAR = 0.80  # (c)'s mean real_sample_accuracy over the seeds
VARIANTS = ("a", "b", "c")
LABELS = {"a": "(a) espeak-ng only, basic augmentation",
          "b": "(b) issue-9 default (4 engines, strong aug)",
          "c": "(c) params.yaml default"}
STRONG_KEYS = ("speed", "pitch_semitones", "pitch_probability", "reverb_probability", "rt60_s",
               "eq_probability", "snr_db", "gain_db")
ISSUE9_ENGINES = ["espeak-ng", "flite", "piper", "hibari"]
ISSUE9_SPEED = [0.85, 1.15]   # features.augment.speed then (now slower: real words are longer)
# The issue-16 keys: absent, each is off, which gives back the issue-9 data set.
NEW_SYNTHETIC_KEYS = ("engine_weights", "other_words", "everyday_words", "formant", "prosody",
                      "intelligibility", "retries")
NEW_AUGMENT_KEYS = ("fresh_unknown",)


def variant_params(raw: dict, which: str, speakers: int, epochs: int, copies: int,
                   seed: int | None = None) -> dict:
    """The params mapping of variant ``a``, ``b`` or ``c`` (see the module docstring);
    ``seed``: the training seed (default params.yaml's)."""
    raw = copy.deepcopy(raw)
    syn = raw.setdefault("data", {}).setdefault("synthetic", {})
    aug = raw.setdefault("features", {}).setdefault("augment", {})
    syn["speakers"] = speakers
    aug["copies"] = copies
    raw.setdefault("train", {})["epochs"] = epochs
    raw["train"]["warmup_epochs"] = min(raw["train"].get("warmup_epochs", 0), epochs - 1)
    if seed is not None:
        raw["train"]["seed"] = seed
    if which in ("a", "b"):
        for k in NEW_SYNTHETIC_KEYS:
            syn.pop(k, None)
        for k in NEW_AUGMENT_KEYS:
            aug.pop(k, None)
        syn["engines"] = list(ISSUE9_ENGINES)
        aug["speed"] = list(ISSUE9_SPEED)
    if which == "a":
        syn["engines"] = ["espeak-ng"]
        syn["jitter"] = 0.0
        for k in STRONG_KEYS:
            aug.pop(k, None)
    return raw


def read_params(path: str | Path) -> tuple[dict, object]:
    """params.yaml as its raw mapping (for ``variant_params``) and validated: a missing file,
    bad YAML or a bad value raises ``config.load``'s one-line ``ParamsError``."""
    from kws import config

    params = config.load(path)
    return config._yaml12().load(Path(path).read_text()) or {}, params


def train_as_stage(model, feats, params, progress: bool):
    """``training.train_model`` with every ``train:`` setting, as stages/train.py calls it."""
    from kws import training

    tp = params.train
    return training.train_model(
        model, feats.splits["train"], feats.splits["validation"], epochs=tp.epochs,
        batch_size=tp.batch_size, lr=tp.lr, schedule=tp.schedule, weight_decay=tp.weight_decay,
        label_smoothing=tp.label_smoothing, seed=tp.seed, device=tp.device,
        num_threads=tp.num_threads, eval_batch_size=tp.eval_batch_size,
        warmup_epochs=tp.warmup_epochs, step_every=tp.step_every, step_gamma=tp.step_gamma,
        progress=progress)


def params_digest(params) -> str:
    """Hash of a variant's whole validated params: a kept figure must come from the same ones."""
    text = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_digest(params) -> str:
    """Hash of what a data set depends on: the ``data:`` and ``features:`` params."""
    text = json.dumps({"data": params.data.model_dump(mode="json"),
                       "features": params.features.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reusable(out: str | Path, which: str, digest: str, seed: int | None = None) -> dict | None:
    """The run of variant ``which`` (and training ``seed``) in an earlier ``out`` file when it
    was made with params of ``digest``."""
    try:
        prev = json.loads(Path(out).read_text()).get(which)
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(prev, dict) and seed is not None:
        prev = next((r for r in prev.get("runs", []) if r.get("seed") == seed), None)
    return prev if isinstance(prev, dict) and prev.get("params_digest") == digest else None


def summarize(runs: list[dict]) -> dict:
    """Mean, sample standard deviation and range over the seeds of the headline figures."""
    import numpy as np

    out = {"seeds": [r["seed"] for r in runs]}
    for key in ("real_sample_accuracy", "real_keyword_accuracy", "real_unknown_accuracy",
                "synthetic_test_accuracy"):
        v = np.array([r[key] for r in runs if r.get(key) is not None], float)
        if len(v):
            out[key] = {"mean": round(float(v.mean()), 4),
                        "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
                        "min": round(float(v.min()), 4), "max": round(float(v.max()), 4)}
    return out


def build_data(params, work: Path, workers: int,
               progress: bool) -> tuple[dict, dict, float, float]:
    """download (synthetic) -> featurize into ``work/raw`` and ``work/features``: the
    generator's and featurizer's metrics and their seconds."""
    import shutil

    from kws.data import speech_commands as sc
    from kws.data import synthetic
    from kws.data.featurize import featurize

    d = params.data
    raw, feats_dir = work / "raw", work / "features"
    stamp = work / "data.json"
    if stamp.is_file() and (feats_dir / "labels.json").is_file():
        try:
            kept = json.loads(stamp.read_text())
        except ValueError:
            kept = {}
        if kept.get("data_digest") == data_digest(params):
            print(f"  data set kept from {work}: its data/features params are unchanged",
                  flush=True)
            return kept["generate"], kept["featurize"], kept["generate_s"], kept["featurize_s"]
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    t0 = time.perf_counter()
    gen = synthetic.generate_from_params(raw, d, progress=progress)
    sc.ensure_split_lists(raw, d.validation_percentage, d.testing_percentage)
    t1 = time.perf_counter()
    fm = featurize(raw, feats_dir, params, workers=workers, progress=progress)
    t2 = time.perf_counter()
    stamp.write_text(json.dumps({"data_digest": data_digest(params), "generate": gen,
                                 "featurize": fm, "generate_s": t1 - t0,
                                 "featurize_s": t2 - t1}, default=str))
    return gen, fm, t1 - t0, t2 - t1


def train_one(params, work: Path, progress: bool) -> dict:
    """Train on ``work/features`` with ``params`` -> test and real_sample_accuracy."""
    from kws import training
    from kws.data import feature_files
    from kws.data.labels import label_names
    from kws.models import build_model

    d, tp, mp, f = params.data, params.train, params.model, params.features
    t2 = time.perf_counter()
    feats = feature_files.load_features(work / "features", expect_labels=label_names(d.words),
                                        expect_shape=(f.n_frames, f.n_mfcc))
    training.seed_everything(tp.seed)
    model = build_model(mp.arch, len(feats.labels), feats.input_shape, mp.dropout)
    res = train_as_stage(model, feats, params, progress)
    t3 = time.perf_counter()
    test = training.evaluate(res.model, feats.splits["test"], tp.eval_batch_size)
    root = Path.cwd()
    folder = None if tp.real_samples_dir is None else (root / tp.real_samples_dir).resolve()
    real = training.real_sample_accuracy(res.model, folder, d.words, feats.labels, f)
    return {"seed": tp.seed, "synthetic_test_accuracy": round(test.accuracy, 4),
            "real_sample_accuracy": real["accuracy"],
            "real_keyword_accuracy": real.get("keyword_accuracy"),
            "real_unknown_accuracy": real.get("unknown_accuracy"),
            "real_per_class_accuracy": real.get("per_class_accuracy"),
            "real_clips": real.get("clips"), "real_note": real.get("note"),
            "train_examples": int(len(feats.splits["train"])),
            "train_seconds": round(t3 - t2, 1), "params_digest": params_digest(params)}


def data_summary(gen: dict, fm: dict, gen_s: float, feat_s: float) -> dict:
    return {"engines_used": gen["engines_used"], "engines_skipped": gen["engines_skipped"],
            "speakers": gen["speakers"], "speakers_per_engine": gen.get("speakers_per_engine"),
            "clips": gen["clips"], "intelligibility": gen.get("intelligibility"),
            "train_examples": fm["examples"]["train"],
            "seconds": {"generate": round(gen_s, 1), "featurize": round(feat_s, 1)}}


def build_and_train(params, work: Path, workers: int, progress: bool) -> dict:
    """download (synthetic) -> featurize -> train -> real_sample_accuracy, in ``work``."""
    gen, fm, gen_s, feat_s = build_data(params, work, workers, progress)
    return {**data_summary(gen, fm, gen_s, feat_s), **train_one(params, work, progress)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench tts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    ap.add_argument("--speakers", type=int, default=None, help="speakers per data set "
                    "(default: data.synthetic.speakers of params.yaml)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: "
                    "train.epochs)")
    ap.add_argument("--copies", type=int, default=None, help="augmented copies per training clip "
                    "(default: features.augment.copies)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="training seeds (default: %(default)s)")
    ap.add_argument("--work", default="build/bench_tts", help="scratch folder for the data "
                    "sets (default: %(default)s)")
    ap.add_argument("--only", choices=list(VARIANTS), nargs="+", help="build and train these "
                    "variants only; the others are kept from --out where their params are "
                    "unchanged")
    ap.add_argument("--workers", type=int, default=2, help="featurize worker processes "
                    "(default: %(default)s)")
    ap.add_argument("--out", default="reports/bench/tts.json", help="JSON result "
                    "(default: %(default)s)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from kws import config
    from kws.errors import KwsError
    from kws.stage import write_json

    results: dict = {}
    try:
        raw, base = read_params(args.params)
        if args.speakers is None:
            args.speakers = base.data.synthetic.speakers
        if args.epochs is None:
            args.epochs = base.train.epochs
        if args.copies is None:
            args.copies = base.features.augment.copies
        for which in VARIANTS:
            runs, data = [], None
            try:
                prev = json.loads(Path(args.out).read_text()).get(which, {})
            except (OSError, ValueError, AttributeError):
                prev = {}
            for seed in args.seeds:
                params = config.parse(variant_params(raw, which, args.speakers, args.epochs,
                                                     args.copies, seed))
                kept = reusable(args.out, which, params_digest(params), seed)
                if kept is not None:
                    runs.append(kept)
                    data = data or prev.get("data")
                    print(f"({which}) seed {seed} kept from {args.out}: its params are "
                          "unchanged", flush=True)
                    continue
                if args.only and which not in args.only:
                    print(f"({which}) seed {seed} not in {args.out} with these params: left "
                          "out (run without --only)", flush=True)
                    continue
                s = params.data.synthetic
                print(f"({which}) seed {seed}: engines {s.engines}, jitter {s.jitter}, "
                      f"augmentation {'basic' if which == 'a' else 'strong'}", flush=True)
                work = Path(args.work) / which
                gen, fm, gen_s, feat_s = build_data(params, work, args.workers, not args.quiet)
                data = data_summary(gen, fm, gen_s, feat_s)
                runs.append(train_one(params, work, not args.quiet))
                print(f"({which}) seed {seed}: " + json.dumps(
                    {k: runs[-1][k] for k in ("real_sample_accuracy", "real_keyword_accuracy",
                                              "synthetic_test_accuracy")}), flush=True)
            if runs:
                results[which] = {"data": data, **summarize(runs), "runs": runs}
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    res = {"settings": {"speakers": args.speakers, "epochs": args.epochs, "copies": args.copies,
                        "seeds": args.seeds, "model": raw.get("model", {}).get("arch", "ds_cnn")},
           **results}
    print(f"TTS benchmark ({args.speakers} speakers, {args.copies} augmented copies, "
          f"{res['settings']['model']}, {args.epochs} epochs, seeds {args.seeds}):")
    for k, r in results.items():
        ra, te = r.get("real_sample_accuracy", {}), r.get("synthetic_test_accuracy", {})
        sd = "" if ra.get("std") is None else f" +- {100 * ra['std']:.1f}"
        kw, unk = r.get("real_keyword_accuracy", {}), r.get("real_unknown_accuracy", {})
        print(f"  {LABELS[k]:46s} real {100 * ra.get('mean', float('nan')):.1f}%{sd} "
              f"(range {100 * ra.get('min', 0):.1f}-{100 * ra.get('max', 0):.1f}, "
              f"{len(r['runs'])} seeds; keywords {100 * kw.get('mean', float('nan')):.1f}%, "
              f"other words {100 * unk.get('mean', float('nan')):.1f}%), "
              f"synthetic test {100 * te.get('mean', float('nan')):.1f}%")
    if "c" in results and results["c"].get("real_sample_accuracy"):
        m = results["c"]["real_sample_accuracy"]["mean"]
        res["passes_bar"] = bool(m >= BAR and len(results["c"]["runs"]) >= 3)
        print(f"  (c) mean {100 * m:.1f}% (bar {100 * BAR:.0f}% over 3 seeds: "
              f"{'pass' if res['passes_bar'] else 'FAIL'})")
    for k in ("b", "c"):
        if k in results and "a" in results:
            res[f"gain_{k}_over_a"] = round(results[k]["real_sample_accuracy"]["mean"]
                                            - results["a"]["real_sample_accuracy"]["mean"], 4)
    if "b" in results and "c" in results:
        res["gain_c_over_b"] = round(results["c"]["real_sample_accuracy"]["mean"]
                                     - results["b"]["real_sample_accuracy"]["mean"], 4)
    write_json(args.out, res)
    print(f"  written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
