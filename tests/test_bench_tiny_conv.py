"""`python -m kws.bench tiny_conv`: the budget its docstring claims for the 32-filter width, and
its error without features (the full run trains four models: a benchmark, not a test)."""

from kws import bench
from kws.bench.tiny_conv import conv_output_values
from kws.models import TinyConv
from kws.profiling import profile_model


def test_32_filters_on_49x10_is_tf_tiny_conv_budget_on_49x40():
    # TF micro_speech: 8 filters 10x8 stride 2 on 49x40 -> 25x20x8 = 4,000 values; ours on
    # 49x10 MFCCs: 25x5 positions, so 32 filters for the same 4,000.
    assert conv_output_values((49, 40), 8) == 25 * 20 * 8 == 4000
    assert conv_output_values((49, 10), 32) == 25 * 5 * 32 == 4000
    assert conv_output_values((49, 10), 8) == 1000
    tf = profile_model(TinyConv(12, (49, 40), filters=8), (49, 40))
    ours = profile_model(TinyConv(12, (49, 10), filters=32), (49, 10))
    # conv 4,000 outputs x 80 taps + dense 4,000 x 12, by hand
    assert tf["macs"] == ours["macs"] == 4000 * 80 + 4000 * 12 == 368000
    assert tf["params_deployed"] == 8 * 80 + 8 + 4000 * 12 + 12 == 48660
    assert ours["params_deployed"] == 32 * 80 + 32 + 4000 * 12 + 12 == 50604


def test_missing_features_is_one_clear_line(tmp_path, capsys):
    assert bench.main(["tiny_conv", "--features", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dvc repro featurize" in err
