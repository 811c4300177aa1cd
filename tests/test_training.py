"""Training on tiny synthetic separable data, reproducibility, checkpoints, and the stage scripts'
errors. Fixtures are generated here in tmp dirs (no pipeline output is needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kws import checkpoint, training
from kws.data import feature_files
from kws.data.labels import label_names
from kws.errors import DataError, KwsError
from kws.models import build_model

ROOT = Path(__file__).resolve().parent.parent
WORDS = "yes no up down left right on off stop go".split()
LABELS = label_names(WORDS)
SHAPE = (49, 10)


def fake_mfcc(n: int, seed: int, n_labels: int = len(LABELS), noise: float = 2.0):
    """Class-dependent patterns in MFCC-shaped arrays: each class has its own fixed random
    pattern (same for every split), plus noise and an MFCC-like offset of c0."""
    protos = np.random.default_rng(1234).standard_normal((n_labels, *SHAPE)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_labels, n)
    x = 3 * protos[y] + noise * rng.standard_normal((n, *SHAPE)).astype(np.float32)
    x[:, :, 0] -= 30.0
    return x.astype(np.float32), y.astype(np.int64)


def write_features(d: Path, n=(600, 120, 120), labels=LABELS, frames=49):
    d.mkdir(parents=True, exist_ok=True)
    for i, (split, k) in enumerate(zip(feature_files.SPLITS, n)):
        x, y = fake_mfcc(k, seed=i, n_labels=len(labels))
        np.savez(d / f"{split}.npz", x=x[:, :frames], y=y,
                 path=np.array([f"{split}/{j}.wav" for j in range(k)]))
    (d / "labels.json").write_text(json.dumps({"labels": labels, "features": {"n_mfcc": 10}}))
    return d


def as_split(x, y):
    return feature_files.Split(torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y))


def fit(arch, epochs=1, seed=0, n_train=600, batch=16, lr=3e-3):
    tr, va = as_split(*fake_mfcc(n_train, 0)), as_split(*fake_mfcc(120, 1))
    te = as_split(*fake_mfcc(120, 2))
    torch.manual_seed(seed)
    model = build_model(arch, len(LABELS), SHAPE, dropout=0.1)
    res = training.train_model(model, tr, va, epochs=epochs, batch_size=batch, lr=lr,
                               seed=seed, device="cpu", num_threads=1, progress=False)
    return res, training.evaluate(res.model, te)


@pytest.mark.parametrize("arch", ["tiny_conv", "ds_cnn"])
def test_one_epoch_beats_chance(arch):
    res, test = fit(arch, n_train=1200)  # ds_cnn's BatchNorm statistics need ~75 steps
    chance = 1 / len(LABELS)
    assert len(res.history) == 1
    assert test.accuracy > 3 * chance, test.accuracy
    assert res.history[0]["val_accuracy"] > 3 * chance


def test_same_seed_same_metrics_and_other_seed_differs():
    a, ta = fit("tiny_conv", epochs=2, seed=3, n_train=300)
    b, tb = fit("tiny_conv", epochs=2, seed=3, n_train=300)
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in h]  # noqa
    assert strip(a.history) == strip(b.history)
    assert ta.accuracy == tb.accuracy and ta.loss == tb.loss
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    c, _ = fit("tiny_conv", epochs=2, seed=4, n_train=300)
    assert strip(c.history) != strip(a.history)


def test_best_validation_epoch_is_kept():
    res, _ = fit("tiny_conv", epochs=3, n_train=300)
    best = max(res.history, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert res.best_epoch == best["epoch"] and res.best_val_accuracy == best["val_accuracy"]
    va = as_split(*fake_mfcc(120, 1))
    assert training.evaluate(res.model, va).accuracy == pytest.approx(best["val_accuracy"])


def test_lr_schedules():
    f = lambda s, sch, **kw: training.lr_factor(s, 10, 30, sch, **kw)  # noqa: E731
    assert f(0, "cosine") == 1.0 and f(150, "cosine") == pytest.approx(0.5)
    assert f(299, "cosine") < 1e-3
    assert f(0, "step") == 1.0 and f(99, "step") == 1.0 and f(100, "step") == pytest.approx(0.1)
    assert f(250, "step", step_every=10, step_gamma=0.5) == pytest.approx(0.25)
    assert f(123, "constant") == 1.0
    assert f(4, "cosine", warmup_epochs=1) == pytest.approx(0.5)  # warm-up: (4+1)/10


def test_confusion_and_per_class():
    cm = training.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    acc = training.per_class_accuracy(cm, ["a", "b", "c", "d"])
    assert acc == {"a": 0.5, "b": 1.0, "c": pytest.approx(2 / 3), "d": None}


def test_checkpoint_round_trip(tmp_path):
    model = build_model("ds_cnn", len(LABELS), SHAPE).eval()
    checkpoint.save(tmp_path / "m.pt", model, arch="ds_cnn", labels=LABELS,
                    input_shape=SHAPE, features={"n_mfcc": 10},
                    model_params={"arch": "ds_cnn", "dropout": 0.2})
    ck = checkpoint.load(tmp_path / "m.pt")
    x = torch.randn(2, 1, *SHAPE)
    torch.testing.assert_close(ck.model(x), model(x))
    assert ck.labels == LABELS and ck.input_shape == (49, 10) and ck.arch == "ds_cnn"
    assert ck.meta["n_labels"] == 12 and ck.features == {"n_mfcc": 10}
    # the same weights give the same bytes, whatever the file is called (DVC hashes the file)
    checkpoint.save(tmp_path / "other.pt", model, arch="ds_cnn", labels=LABELS,
                    input_shape=SHAPE, features={"n_mfcc": 10},
                    model_params={"arch": "ds_cnn", "dropout": 0.2})
    assert (tmp_path / "other.pt").read_bytes() == (tmp_path / "m.pt").read_bytes()


def test_load_features_checks(tmp_path):
    d = write_features(tmp_path / "f")
    f = feature_files.load_features(d, expect_labels=LABELS, expect_shape=SHAPE)
    assert f.input_shape == SHAPE and f.splits["train"].x.shape == (600, 1, 49, 10)
    with pytest.raises(DataError, match="labels"):
        feature_files.load_features(d, expect_labels=label_names(["cat", "dog"]))
    with pytest.raises(DataError, match=r"\[49, 10\]"):
        feature_files.load_features(d, expect_shape=(40, 10))
    with pytest.raises(DataError, match="featurize"):
        feature_files.load_features(tmp_path / "nothing")
    (d / "test.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="test.npz"):
        feature_files.load_features(d)


def test_real_samples_skip_cleanly_when_absent(tmp_path):
    model = build_model("tiny_conv", len(LABELS), SHAPE)
    r = training.real_sample_accuracy(model, tmp_path / "missing", WORDS, LABELS, None)
    assert r["accuracy"] is None and "not found" in r["note"]
    r = training.real_sample_accuracy(model, None, WORDS, LABELS, None)
    assert r["accuracy"] is None


def test_real_clips_outside_words_are_unknown(tmp_path):
    for word in ("yes", "marvin", "_background_noise_"):
        (tmp_path / word).mkdir()
        (tmp_path / word / "a_nohash_0.wav").write_bytes(b"")
    clips = training.find_real_clips(tmp_path, WORDS)
    assert [(c[2], c[1]) for c in clips] == [("marvin", 1), ("yes", 2)]


# --- the stage scripts ------------------------------------------------------------------------
def _params(tmp: Path, arch="tiny_conv", epochs=1) -> Path:
    p = tmp / "params.yaml"
    p.write_text(f"model:\n  arch: {arch}\ntrain:\n  epochs: {epochs}\n  batch_size: 32\n"
                 "  num_threads: 1\n  real_samples_dir: null\nprofile:\n  latency_runs: 5\n"
                 "  warmup_runs: 1\n")
    return p


def _run(script: str, cwd: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _one_line_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_train_stage_fails_cleanly_without_features(tmp_path):
    res = _run("train.py", tmp_path, "--params", str(_params(tmp_path)))
    _one_line_error(res, "data/features", "featurize")


def test_profile_stage_fails_cleanly_without_model(tmp_path):
    res = _run("profile_model.py", tmp_path, "--params", str(_params(tmp_path)))
    _one_line_error(res, "models/model.pt")


def test_stage_help():
    for script in ("train.py", "profile_model.py"):
        res = _run(script, ROOT, "--help")
        assert res.returncode == 0 and "usage" in res.stdout


def test_train_and_profile_stages_end_to_end(tmp_path):
    write_features(tmp_path / "data" / "features")
    params = _params(tmp_path, "tiny_conv", epochs=2)
    res = _run("train.py", tmp_path, "--params", str(params), "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "reports/train/metrics.json").read_text())
    assert m["test_accuracy"] > 0.5 and m["epochs"] == 2 and m["params"] == 12676  # conv 8x10x8+8, BN 16, dense 12012
    assert m["real_sample_accuracy"] is None and m["real_sample"]["note"]
    assert set(m["per_class_accuracy"]) == set(LABELS)
    rows = (tmp_path / "reports/train/confusion.csv").read_text().splitlines()
    assert rows[0] == "actual,predicted" and len(rows) == 1 + 120
    hist = (tmp_path / "reports/train/history.csv").read_text().splitlines()
    assert hist[0].startswith("epoch,train_loss") and len(hist) == 3
    assert (tmp_path / "reports/train/live/plots/metrics/val/accuracy.tsv").is_file()
    for png in ("training_curves.png", "confusion.png"):
        assert (tmp_path / "reports/figures" / png).read_bytes()[:4] == b"\x89PNG"
    ck = checkpoint.load(tmp_path / "models/model.pt")
    assert ck.arch == "tiny_conv" and ck.labels == LABELS

    res = _run("profile_model.py", tmp_path, "--params", str(params))
    assert res.returncode == 0, res.stderr[-3000:]
    pm = json.loads((tmp_path / "reports/profile/metrics.json").read_text())
    assert pm["arch"] == "tiny_conv" and pm["macs"] == 92000
    assert pm["latency"]["cpu"]["runs"] == 5 and pm["latency"]["cpu"]["num_threads"] == 1
    table = (tmp_path / "reports/profile/models.csv").read_text().splitlines()
    assert len(table) == 3 and table[0].startswith("arch,params")
    assert (tmp_path / "reports/profile/layers.csv").read_text().count("\n") == 3


def test_stage_rejects_bad_params(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  epochs: 0\n  schedule: linear\n")
    res = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(p)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "train.epochs" in res.stderr and "train.schedule" in res.stderr


def test_kws_error_is_the_base():
    assert issubclass(DataError, KwsError)


def test_real_sample_accuracy_counts(tmp_path, monkeypatch):
    """With a stand-in mfcc_of_wav (the real one lives in kws.features), a model that always
    says 'yes' scores 1 on the 'yes' clips and 0 elsewhere: check the bookkeeping by hand."""
    import types

    for word, n in (("yes", 2), ("no", 1), ("marvin", 3)):
        (tmp_path / word).mkdir()
        for i in range(n):
            (tmp_path / word / f"s{i}_nohash_0.wav").write_bytes(b"")
    fake = types.ModuleType("kws.features")
    fake.mfcc_of_wav = lambda path, spec: np.zeros(SHAPE, np.float32)
    monkeypatch.setitem(sys.modules, "kws.features", fake)

    class AlwaysYes(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(len(x), len(LABELS))
            out[:, LABELS.index("yes")] = 1.0
            return out

    r = training.real_sample_accuracy(AlwaysYes(), tmp_path, WORDS, LABELS, None)
    assert r["clips"] == 6 and r["keyword_clips"] == 3 and r["unknown_clips"] == 3
    assert r["accuracy"] == pytest.approx(2 / 6)
    assert r["keyword_accuracy"] == pytest.approx(2 / 3) and r["unknown_accuracy"] == 0.0
    assert r["per_class_accuracy"]["yes"] == 1.0 and r["per_class_accuracy"]["_silence_"] is None

    def wilson(k, n, z=1.959964):  # the textbook formula, by hand
        p = k / n
        centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return [(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)]

    ci = r["interval_95"]
    assert ci["accuracy"] == pytest.approx(wilson(2, 6), abs=1e-6)
    assert ci["keyword_accuracy"] == pytest.approx(wilson(2, 3), abs=1e-6)
    assert ci["unknown_accuracy"] == pytest.approx(wilson(0, 3), abs=1e-6)
    assert ci["unknown_accuracy"][0] == pytest.approx(0.0, abs=1e-12)
    assert training.wilson_interval(60, 100) == pytest.approx([0.50200, 0.69060], abs=1e-4)


def test_computed_weights_still_train_channels_last_and_float_training_is_unchanged():
    """A weight computed on every step (here a pruning mask, in QAT a fake-quantized weight) came
    out with NCHW strides; with one input channel, the first conv then ran NCHW and so did the
    whole network. train_model gives a one-channel input NHWC strides: the conv after it runs
    channels-last, and training a plain model gives the same bits with or without that."""
    from torch.nn.utils import prune as tprune

    tr, va = as_split(*fake_mfcc(64, 0)), as_split(*fake_mfcc(32, 1))

    def train(hook_on: bool, masked: bool):
        torch.manual_seed(0)
        model = build_model("ds_cnn", len(LABELS), SHAPE, dropout=0.1)
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        if masked:
            tprune.l1_unstructured(first, "weight", amount=0.5)
        seen = []
        first.register_forward_hook(lambda m, a, out: seen.append(
            out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()))
        saved = training._one_channel_input_channels_last
        if not hook_on:
            training._one_channel_input_channels_last = lambda m, a: None
        try:
            res = training.train_model(model, tr, va, epochs=1, batch_size=16, lr=3e-3, seed=0,
                                       device="cpu", num_threads=1, progress=False)
        finally:
            training._one_channel_input_channels_last = saved
        return res.model.state_dict(), seen[0]

    _, nhwc = train(True, masked=True)
    _, nhwc_without = train(False, masked=True)
    assert nhwc and not nhwc_without
    a, nhwc_plain = train(True, masked=False)
    b, _ = train(False, masked=False)
    assert nhwc_plain and all(torch.equal(a[k], b[k]) for k in a)
