"""`kws predict MODEL WAV...`: run a trained model (.pt checkpoint or int8 .tflite) on wav
files and print the top classes with their scores (softmax probabilities).

Your own recordings work: any sample rate is resampled to 16 kHz, stereo is mixed down, a
clip shorter than 1 s is centred in silence, and from a longer one the loudest 1 s is used.
Labels and the features spec come from the checkpoint (.pt) or from the ``.json`` the convert
stage writes beside the .tflite; otherwise from ``params.yaml``.

    kws predict models/model.pt my_yes.wav
    kws predict models/model_int8.tflite a.wav b.wav --top 5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from kws.errors import KwsError


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``predict`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "predict", help="run a .pt or .tflite model on wav files and print the top classes",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    p.set_defaults(func=predict_command)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="models/model.pt (checkpoint) or a full-int8 .tflite")
    p.add_argument("wavs", nargs="+", metavar="WAV", help="wav files (any rate, mono/stereo)")
    p.add_argument("--top", type=int, default=3, help="how many classes to print (default 3)")
    p.add_argument("--params", default="params.yaml",
                   help="fallback for labels/features when the model carries none")
    p.add_argument("--labels", default=None,
                   help="comma-separated labels, overriding what the model carries")


# --- model loading --------------------------------------------------------------------------
class _Runner:
    labels: list[str]
    features: dict
    input_shape: tuple[int, int]

    def logits(self, x: np.ndarray) -> np.ndarray:  # x: [n, frames, coeffs] float32
        raise NotImplementedError


class _TorchRunner(_Runner):
    def __init__(self, path: Path):
        import torch

        from kws.checkpoint import load as load_checkpoint

        self._torch = torch
        ck = load_checkpoint(path)
        self.model, self.labels, self.features = ck.model, ck.labels, ck.features
        self.input_shape = ck.input_shape

    def logits(self, x):
        with self._torch.no_grad():
            t = self._torch.from_numpy(np.ascontiguousarray(x, np.float32))
            return self.model(t.reshape(-1, 1, *self.input_shape)).numpy()


class _TfliteRunner(_Runner):
    def __init__(self, path: Path):
        from kws.export import interpreters as interp
        from kws.export.tflite import model_io

        self._interp = interp
        self.model = path.read_bytes()
        try:
            io = model_io(self.model)
        except (ValueError, RuntimeError) as err:
            raise KwsError(f"{path}: not a readable .tflite model ({err})") from None
        shape = io["input"]["shape"]
        self.input_shape = (int(shape[1]), int(shape[2]))
        self._qout = interp.QParams(io["output"]["scale"], io["output"]["zero_point"])
        side = path.with_suffix(".json")
        meta = json.loads(side.read_text()) if side.is_file() else {}
        self.labels = list(meta.get("labels", []))
        self.features = dict(meta.get("features", {}) or {})

    def logits(self, x):
        return self._interp.dequantize(self._interp.run_litert(self.model, x), self._qout)


def load_runner(model_path: str | Path) -> _Runner:
    path = Path(model_path)
    if not path.is_file():
        raise KwsError(f"{path}: no such model file")
    if path.suffix == ".tflite":
        return _TfliteRunner(path)
    if path.suffix in (".pt", ".pth"):
        return _TorchRunner(path)
    raise KwsError(f"{path}: unknown model type '{path.suffix}' (use a .pt checkpoint or a "
                   ".tflite model)")


# --- features -------------------------------------------------------------------------------
def _features_params(runner: _Runner, params_path: str):
    from kws import config

    if runner.features:
        try:
            return config.FeaturesParams(**{k: v for k, v in runner.features.items()
                                            if k in config.FeaturesParams.model_fields})
        except Exception as err:  # noqa: BLE001  pydantic ValidationError
            raise KwsError(f"the model's features params are not valid: {err}") from None
    if Path(params_path).is_file():
        return config.load(params_path).features
    return config.defaults().features


def _fallback_labels(params_path: str) -> list[str]:
    from kws import config
    from kws.data.labels import label_names

    words = config.load(params_path).data.words if Path(params_path).is_file() \
        else config.defaults().data.words
    return label_names(list(words))


def featurize(audio: np.ndarray, fparams) -> np.ndarray:
    """MFCC ``[frames, coeffs]`` of one clip, with the spec the model was trained on."""
    from kws.features import mfcc

    out = mfcc(np.ascontiguousarray(audio, np.float32)[None], fparams)
    return out.detach().cpu().numpy().reshape(out.shape[-2:]).astype(np.float32)


def fit_clip(x: np.ndarray, n: int, hop: int = 160) -> tuple[np.ndarray, str]:
    """Exactly ``n`` samples: a short clip centred in zeros, or the loudest window of a long
    one. Returns (clip, a note for the user, or '')."""
    from kws.audio import pad_or_trim

    if len(x) == n:
        return x.astype(np.float32), ""
    if len(x) < n:
        return pad_or_trim(x, n, (n - len(x)) // 2), f"padded {len(x) / 16000:.2f} s to 1 s"
    energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    starts = np.arange(0, len(x) - n + 1, hop)
    best = int(starts[np.argmax(energy[starts + n] - energy[starts])])
    return x[best:best + n].astype(np.float32), \
        f"loudest 1 s of {len(x) / 16000:.2f} s, from {best / 16000:.2f} s"


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict(model_path, wavs, top: int = 3, params: str = "params.yaml",
            labels: list[str] | None = None) -> list[dict]:
    """Top classes for each wav: ``[{"wav", "note", "top": [(label, score), ...]}]``."""
    from kws.audio import read_wav

    runner = load_runner(model_path)
    fparams = _features_params(runner, params)
    names = labels or runner.labels or _fallback_labels(params)
    results = []
    for wav in wavs:
        audio = read_wav(wav, fparams.sample_rate, resample_ok=True, mix_down=True)
        clip, note = fit_clip(audio, fparams.clip_samples)
        feats = featurize(clip, fparams)
        if feats.shape != tuple(runner.input_shape):
            raise KwsError(f"features of {wav} are {list(feats.shape)} but the model takes "
                           f"{list(runner.input_shape)}: the features params differ")
        scores = softmax(runner.logits(feats[None]).astype(np.float64))[0]
        if len(names) != len(scores):
            raise KwsError(f"the model has {len(scores)} classes but {len(names)} labels "
                           f"({','.join(names)}): pass --labels")
        order = np.argsort(-scores, kind="stable")[:max(1, top)]
        results.append({"wav": str(wav), "note": note,
                        "top": [(names[i], float(scores[i])) for i in order]})
    return results


def predict_command(args: argparse.Namespace) -> int:
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    results = predict(args.model, args.wavs, args.top, args.params, labels)
    width = max(len(label) for r in results for label, _ in r["top"])
    for r in results:
        print(f"{r['wav']}" + (f"  ({r['note']})" if r["note"] else ""))
        for rank, (label, score) in enumerate(r["top"], 1):
            print(f"  {rank}. {label:<{width}}  {score:.3f}")
    return 0


def main(argv=None) -> int:
    """``python -m kws.predict MODEL WAV...`` (the same as ``kws predict``)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN banner; deterministic
    p = argparse.ArgumentParser(prog="kws predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    args = p.parse_args(argv)
    try:
        return predict_command(args)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
