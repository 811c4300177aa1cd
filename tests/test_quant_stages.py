"""The ptq, qat and minifloat stages end to end on a tiny checkpoint and tiny features: outputs,
resume after an interruption, and no point recomputed whose inputs did not change."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from kws import checkpoint, training
from kws.data import feature_files
from kws.config import with_overrides
from kws.errors import ParamsError
from kws.models import build_model
from test_quant_toys import toy_split

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def load_stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("quant")
    feats = d / "features"
    feats.mkdir()
    for split, n, seed in (("train", 240, 0), ("validation", 96, 1), ("test", 96, 2)):
        x, y = toy_split(n, seed, noise=0.5)
        np.savez(feats / f"{split}.npz", x=x[:, 0].numpy(), y=y.numpy(),
                 path=np.array([f"{split}/{i}.wav" for i in range(n)]))
    (feats / "labels.json").write_text(json.dumps({"labels": LABELS, "features": {}}))
    torch.manual_seed(0)
    model = build_model("tiny_conv", len(LABELS))
    tr = feature_files.load_features(feats)
    training.train_model(model, tr.splits["train"], tr.splits["validation"], epochs=3,
                         batch_size=40, lr=3e-3, num_threads=1, progress=False)
    checkpoint.save(d / "model.pt", model, arch="tiny_conv", labels=LABELS,
                             input_shape=(49, 10), features={}, model_params={"dropout": 0.2})
    return d


def small_params(d: Path, **sections) -> Path:
    calib = {"samples": 64, "batch_size": 32}
    ft = {"epochs": 1, "batch_size": 40}
    raw = {
        "ptq": {"bits": [4, 8], "schemes": ["symmetric", "asymmetric"], "calibration": calib,
                "workers": 1},
        "qat": {"bits": [2, 4], "schemes": ["asymmetric"], "calibration": calib, "finetune": ft,
                "device": "cpu", "workers": 1},
        "minifloat": {"formats": ["E4M3", "E2M1"], "calibration": calib, "finetune": ft,
                      "device": "cpu", "workers": 1},
    }
    for k, v in sections.items():
        raw[k].update(v)
    with_overrides(raw)  # the test's own params are valid
    p = d / "params.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def run_stage(name, d, params, capsys):
    load_stage(name).main(["--params", str(params), "--model", str(d / "model.pt"),
                           "--features", str(d / "features"), "--reports", str(d / "reports" / name),
                           "--cache", str(d / "cache" / name), "--no-progress"])
    out = capsys.readouterr().out
    return json.loads((d / "reports" / name / "sweep.json").read_text()), out


def test_ptq_stage_writes_the_sweep_and_resumes_from_its_cache(workdir, capsys):
    params = small_params(workdir)
    report, out = run_stage("ptq", workdir, params, capsys)
    rows = report["points"]
    assert [(r["bits"], r["scheme"]) for r in rows] == [(4, "symmetric"), (8, "symmetric"),
                                                        (4, "asymmetric"), (8, "asymmetric")]
    for r in rows:
        assert 0 <= r["accuracy"] <= 1 and r["size_bytes"] > 0
        assert r["integer"]["max_abs_lsb"] <= 1
    assert rows[0]["size_bytes"] < rows[1]["size_bytes"] < report["float"]["size_bytes"]
    assert abs(rows[1]["accuracy"] - report["float"]["accuracy"]) < 0.03
    with open(workdir / "reports/ptq/accuracy_vs_bits.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["bits", "ptq_symmetric", "ptq_asymmetric", "float"]
    assert "0 of 4 points from the cache" in out
    metrics = json.loads((workdir / "reports/ptq/metrics.json").read_text())
    assert set(metrics["symmetric"]) == {"4bit", "8bit"}

    _, out = run_stage("ptq", workdir, params, capsys)  # nothing changed: nothing recomputed
    assert "4 of 4 points from the cache" in out
    params = small_params(workdir, ptq={"bits": [3, 4, 8]})  # one bit width added
    _, out = run_stage("ptq", workdir, params, capsys)
    assert "4 of 6 points from the cache" in out


def test_qat_stage_resumes_where_it_was_interrupted(workdir, capsys, monkeypatch):
    from kws.quant import run as qrun

    params = small_params(workdir)
    real, calls = qrun.finetune, []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(qrun, "finetune", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_stage("qat", workdir, params, capsys)
    assert not (workdir / "reports/qat/sweep.json").exists()
    monkeypatch.setattr(qrun, "finetune", real)
    report, out = run_stage("qat", workdir, params, capsys)
    assert "1 of 2 points from the cache" in out  # the 2-bit point survived the interruption
    for r in report["points"]:
        assert r["accuracy"] >= 0 and r["best_epoch"] in (0, 1) and r["epochs"] == 1
        assert [h["epoch"] for h in r["history"]] == [0, 1]
    params = small_params(workdir, qat={"finetune": {"epochs": 1, "batch_size": 40, "lr": 1e-3}})
    _, out = run_stage("qat", workdir, params, capsys)
    assert "0 of 2 points from the cache" in out  # a QAT input changed: recomputed


def test_minifloat_stage(workdir, capsys):
    params = small_params(workdir)
    report, out = run_stage("minifloat", workdir, params, capsys)
    got = {(r["format"], r["method"]): r for r in report["points"]}
    assert set(got) == {("E4M3", "ptq"), ("E4M3", "qat"), ("E2M1", "ptq"), ("E2M1", "qat")}
    assert got["E4M3", "ptq"]["bits"] == 8 and got["E2M1", "ptq"]["bits"] == 4
    assert got["E2M1", "ptq"]["size_bytes"] < got["E4M3", "ptq"]["size_bytes"]
    assert abs(got["E4M3", "ptq"]["accuracy"] - report["float"]["accuracy"]) < 0.03
    with open(workdir / "reports/minifloat/accuracy.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["point"] for r in table] == ["float32", "E4M3 PTQ", "E4M3 QAT", "E2M1 PTQ", "E2M1 QAT"]


@pytest.mark.parametrize("raw, expected", [
    ({"ptq": {"bits": [1, 8]}}, "bits must be in 2..16"),
    ({"qat": {"schemes": ["symmetric", "symmetric"]}}, "must not repeat"),
    ({"ptq": {"calibration": {"method": "mean"}}}, "ptq.calibration.method"),
    ({"minifloat": {"formats": ["E4M3", "fp8"]}}, "write ExMy"),
    ({"minifloat": {"formats": [{"bias": 3}]}}, "needs format"),
])
def test_bad_quant_params_are_named(raw, expected):
    with pytest.raises(ParamsError) as err:
        with_overrides(raw)
    assert expected in str(err.value)


def test_repository_params_have_the_quant_sections():
    from kws import config

    p = config.load(ROOT / "params.yaml")
    assert p.ptq.bits == [2, 3, 4, 5, 6, 7, 8]
    assert set(p.minifloat.formats) >= {"E4M3", "E5M2"}
