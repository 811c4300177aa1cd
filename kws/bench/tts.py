"""Benchmark: does multi-engine TTS data with strong augmentation recognize real voices better?

    python -m kws.bench tts [--speakers N] [--epochs N] [--copies N] [--work build/bench_tts]

In one run it builds two synthetic data sets from ``params.yaml`` and trains the same model
(``model:``, ``train:`` except ``epochs``) on each, then prints ``real_sample_accuracy`` on the
real Speech Commands clips of ``train.real_samples_dir``:

  (a) espeak-ng only, basic augmentation: ``data.synthetic.engines: [espeak-ng]``, jitter 0,
      ``features.augment`` time shift + background noise by volume only;
  (b) the params.yaml mix (``data.synthetic.engines``, ``jitter``) with its strong augmentation.

Everything else is the same: seeds, number of speakers, words, augmented copies, model, epochs.
Speakers, epochs and copies default to params.yaml's (``data.synthetic.speakers``,
``train.epochs``, ``features.augment.copies``), so (b) is the pipeline's own data and model.
``--only b`` rebuilds one variant and keeps the other from ``--out`` when that one's params
(hashed) have not changed: after editing only strong-augmentation keys, (a) is reused.
The bar: (b) - (a) >= 15 points. Writes ``reports/bench/tts.json``. CPU heavy: about 30 min on
2 cores with the defaults (600 speakers, 30 epochs); ``--speakers 200 --epochs 20`` takes 15.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path

BAR = 0.15
STRONG_KEYS = ("speed", "pitch_semitones", "pitch_probability", "reverb_probability", "rt60_s",
               "eq_probability", "snr_db", "gain_db")


def variant_params(raw: dict, which: str, speakers: int, epochs: int, copies: int) -> dict:
    """The params mapping of variant ``a`` or ``b`` (see the module docstring)."""
    raw = copy.deepcopy(raw)
    syn = raw.setdefault("data", {}).setdefault("synthetic", {})
    aug = raw.setdefault("features", {}).setdefault("augment", {})
    syn["speakers"] = speakers
    aug["copies"] = copies
    raw.setdefault("train", {})["epochs"] = epochs
    raw["train"]["warmup_epochs"] = min(raw["train"].get("warmup_epochs", 0), epochs - 1)
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


def reusable(out: str | Path, which: str, digest: str) -> dict | None:
    """Variant ``which`` of an earlier ``out`` file when it was made with params of ``digest``."""
    try:
        prev = json.loads(Path(out).read_text()).get(which)
    except (OSError, ValueError, AttributeError):
        return None
    return prev if isinstance(prev, dict) and prev.get("params_digest") == digest else None


def build_data(params, work: Path, workers: int,
               progress: bool) -> tuple[dict, dict, float, float]:
    """download (synthetic) -> featurize into ``work/raw`` and ``work/features``: the
    generator's and featurizer's metrics and their seconds."""
    import shutil

    from kws.data import speech_commands as sc
    from kws.data import synthetic
    from kws.data.featurize import featurize

    d, s = params.data, params.data.synthetic
    raw, feats_dir = work / "raw", work / "features"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    t0 = time.perf_counter()
    gen = synthetic.generate(raw, words=d.words, speakers=s.speakers, noise_files=s.noise_files,
                             noise_seconds=s.noise_seconds, seed=d.seed, workers=s.workers,
                             speed_wpm=s.speed_wpm, pitch=s.pitch,
                             validation_percentage=d.validation_percentage,
                             testing_percentage=d.testing_percentage, progress=progress,
                             engines=s.engines, jitter=s.jitter)
    sc.ensure_split_lists(raw, d.validation_percentage, d.testing_percentage)
    t1 = time.perf_counter()
    fm = featurize(raw, feats_dir, params, workers=workers, progress=progress)
    return gen, fm, t1 - t0, time.perf_counter() - t1


def build_and_train(params, work: Path, workers: int, progress: bool) -> dict:
    """download (synthetic) -> featurize -> train -> real_sample_accuracy, in ``work``."""
    from kws import training
    from kws.data import feature_files
    from kws.data.labels import label_names
    from kws.models import build_model

    d, tp, mp, f = params.data, params.train, params.model, params.features
    gen, fm, gen_s, feat_s = build_data(params, work, workers, progress)
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
    return {"engines_used": gen["engines_used"], "engines_skipped": gen["engines_skipped"],
            "speakers": gen["speakers"], "clips": gen["clips"],
            "train_examples": fm["examples"]["train"],
            "synthetic_test_accuracy": round(test.accuracy, 4),
            "real_sample_accuracy": real["accuracy"],
            "real_keyword_accuracy": real.get("keyword_accuracy"),
            "real_unknown_accuracy": real.get("unknown_accuracy"),
            "real_clips": real.get("clips"), "real_note": real.get("note"),
            "seconds": {"generate": round(gen_s, 1), "featurize": round(feat_s, 1),
                        "train": round(t3 - t2, 1)}}


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
    ap.add_argument("--work", default="build/bench_tts", help="scratch folder for the two data "
                    "sets (default: %(default)s)")
    ap.add_argument("--only", choices=["a", "b"], help="build and train one variant only; the "
                    "other is kept from --out when its params digest still matches")
    ap.add_argument("--workers", type=int, default=2, help="wav readers (default: %(default)s)")
    ap.add_argument("--out", default="reports/bench/tts.json", help="JSON result "
                    "(default: %(default)s)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from kws import config
    from kws.errors import KwsError
    from kws.stage import write_json

    try:
        raw, base = read_params(args.params)
        if args.speakers is None:
            args.speakers = base.data.synthetic.speakers
        if args.epochs is None:
            args.epochs = base.train.epochs
        if args.copies is None:
            args.copies = base.features.augment.copies
        results = {}
        for which in ("a", "b"):
            params = config.parse(variant_params(raw, which, args.speakers, args.epochs,
                                                 args.copies))
            if args.only and which != args.only:
                kept = reusable(args.out, which, params_digest(params))
                if kept is not None:
                    results[which] = kept
                    print(f"({which}) kept from {args.out}: its params are unchanged", flush=True)
                else:
                    print(f"({which}) not in {args.out} with these params: no gain is computed "
                          f"(run without --only)", flush=True)
                continue
            print(f"({which}) engines {params.data.synthetic.engines}, jitter "
                  f"{params.data.synthetic.jitter}, augmentation "
                  f"{'strong' if which == 'b' else 'basic'}", flush=True)
            results[which] = {**build_and_train(params, Path(args.work) / which, args.workers,
                                                not args.quiet),
                              "params_digest": params_digest(params)}
            print(f"({which}) " + json.dumps(results[which]), flush=True)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    res = {"settings": {"speakers": args.speakers, "epochs": args.epochs, "copies": args.copies,
                        "model": raw.get("model", {}).get("arch", "ds_cnn")},
           **results}
    print(f"TTS benchmark ({args.speakers} speakers, {args.copies} augmented copies, "
          f"{res['settings']['model']}, {args.epochs} epochs):")
    labels = {"a": "(a) espeak-ng only, basic augmentation",
              "b": "(b) engine mix, strong augmentation"}
    for k, r in results.items():
        print(f"  {labels[k]:42s} real_sample_accuracy {r['real_sample_accuracy']}  "
              f"(keywords {r['real_keyword_accuracy']}, synthetic test "
              f"{r['synthetic_test_accuracy']}; engines {', '.join(r['engines_used'])})")
    if len(results) == 2 and all(r["real_sample_accuracy"] is not None for r in results.values()):
        gain = results["b"]["real_sample_accuracy"] - results["a"]["real_sample_accuracy"]
        res["gain"] = round(gain, 4)
        res["passes_bar"] = bool(gain >= BAR)
        print(f"  (b) - (a) = {100 * gain:+.1f} points (bar +{100 * BAR:.0f}: "
              f"{'pass' if gain >= BAR else 'FAIL'})")
    write_json(args.out, res)
    print(f"  written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
