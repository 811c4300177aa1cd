"""`python -m kws.bench finetune` on a tiny model and features: every kind is timed with the
channels-last hook on and off, the float step with the hook is the unit; without the
pipeline's outputs it is one line, not a trace. (Which step is faster is the benchmark's
figure, not a test's.)"""

import json

import numpy as np

from kws import bench, checkpoint
from kws.data.labels import label_names
from kws.models import build_model

WORDS = "yes no up down left right on off stop go".split()


def test_finetune_bench_times_every_kind_both_ways(tmp_path, capsys):
    labels = label_names(WORDS)
    feats = tmp_path / "features"
    feats.mkdir()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 49, 10)).astype(np.float32)
    np.savez(feats / "train.npz", x=x, y=rng.integers(0, len(labels), 64),
             path=np.array([f"train/{i}.wav" for i in range(64)]))
    (feats / "labels.json").write_text(json.dumps({"labels": labels, "features": {}}))
    model = build_model("ds_cnn", len(labels), (49, 10))
    checkpoint.save(tmp_path / "model.pt", model, arch="ds_cnn", labels=labels,
                    input_shape=(49, 10), features={}, model_params={})
    out = tmp_path / "finetune.json"
    assert bench.main(["finetune", "--model", str(tmp_path / "model.pt"), "--features",
                       str(feats), "--rounds", "1", "--steps", "1", "--batch", "16",
                       "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    kinds = {"float", "qat_int4_symmetric", "qat_minifloat_e4m3", "masked_70pct"}
    assert {(r["kind"], r["channels_last_hook"]) for r in rows} == {
        (k, h) for k in kinds for h in (True, False)}
    unit = next(r for r in rows if r["kind"] == "float" and r["channels_last_hook"])
    assert unit["vs_float"] == 1.0 and all(r["ms_per_step"] > 0 for r in rows)
    assert "x float" in capsys.readouterr().out


def test_finetune_bench_without_pipeline_outputs_is_one_line(tmp_path, capsys):
    assert bench.main(["finetune", "--model", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make run" in err[0]
