"""`python -m kws.bench models`: the bar checks it prints, and its error without features (the
full run trains two models: it is a benchmark, not a test)."""

from kws import bench
from kws.bench.models import passes


def row(**kw):
    r = {"float_accuracy": 0.95, "int8_minus_float_points": -0.4,
         "litert_tflm_top1_disagreements": 0, "host_bit_exact": True,
         "host_bit_exact_clips": 750, "test_clips": 750, "emulated_bit_exact": True,
         "arena_bytes": 16000, "largest_live_bytes": 16000, "tflm_arena_bytes": 24048}
    r.update(kw)
    return r


def test_bars():
    assert all(passes(row()).values())
    assert not passes(row(float_accuracy=0.899))["float_accuracy"]
    assert not passes(row(int8_minus_float_points=-0.6))["int8_within_half_point"]
    assert passes(row(int8_minus_float_points=+0.5))["int8_within_half_point"]
    assert not passes(row(litert_tflm_top1_disagreements=1))["litert_tflm_top1"]
    assert not passes(row(host_bit_exact_clips=749))["bit_exact"]  # every clip, not most
    assert not passes(row(emulated_bit_exact=False))["bit_exact"]
    assert not passes(row(arena_bytes=24049, tflm_arena_bytes=24048,
                          largest_live_bytes=24000))["arena"]
    assert not passes(row(arena_bytes=17601))["arena"]  # > 1.1 x the largest live set


def test_missing_features_is_one_clear_line(tmp_path, capsys):
    assert bench.main(["models", "--features", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dvc repro featurize" in err
