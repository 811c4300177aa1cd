"""params.yaml validation: defaults are sane, and each bad value gives one line naming it."""

import pytest
import yaml

from kws import config
from kws.errors import ParamsError
from test_voices import ISSUE16_OFF


def test_repository_params_are_valid_and_give_the_design_feature_shape():
    p = config.load("params.yaml")
    assert (p.features.n_frames, p.features.n_mfcc) == (49, 10)
    assert p.data.words == "yes no up down left right on off stop go".split()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"data": {"source": "youtube"}}, "params.yaml: data.source = 'youtube': Input should be"),
        ({"features": {"n_fft": 1000}}, "features.n_fft = 1000: must be a power of two"),
        ({"features": {"n_fft": 256}}, "must be >= the window (640 samples)"),
        ({"train": {"epochs": 0}}, "train.epochs = 0: Input should be greater than or equal to 1"),
        ({"trian": {}}, "unknown key 'trian'"),
        ({"data": {"words": ["yes", "yes"]}}, "must not repeat"),
        ({"data": {"source": "folder"}}, "data.folder is empty"),
        (yaml.safe_load("data: {words: [yes, no, up]}"), "quote the words"),  # YAML 1.1 reader
        ({"features": {"fmax": 9000}}, "fmin/fmax"),
        ({"qat": {"finetune": {"epochs": {4: -1}}}}, "epochs must be >= 0, per bit width"),
        ({"minifloat": {"finetune": {"epochs": {40: 1}}}}, "epochs must be >= 0, per bit width"),
    ],
)
def test_bad_values_are_named_with_what_is_allowed(raw, expected):
    with pytest.raises(ParamsError) as err:
        config.with_overrides(raw)
    assert expected in str(err.value)


def test_two_problems_give_two_lines():
    with pytest.raises(ParamsError) as err:
        config.with_overrides({"train": {"epochs": -1, "lr": 0}})
    lines = str(err.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("params.yaml: train.") for line in lines)


def test_unreadable_yaml_is_one_line(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        config.load(p)
    p.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ParamsError, match="mapping"):
        config.load(p)


def test_params_rewritten_by_dvc_keep_yes_no_on_off_as_words(tmp_path):
    """`dvc exp run --set-param` rewrites params.yaml (ruamel.yaml, YAML 1.2) without quotes."""
    (tmp_path / "params.yaml").write_text("data:\n  words:\n  - yes\n  - no\n  - on\n  - off\n")
    assert config.load(tmp_path / "params.yaml").data.words == ["yes", "no", "on", "off"]


def test_invalid_yaml_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="is not valid YAML"):
        config.load(tmp_path / "params.yaml")


def test_errors_name_the_params_file_that_was_read(tmp_path):
    """`--params exp.yaml`: each line names exp.yaml, not params.yaml (issue 20)."""
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump({"data": {"sha256": "xyz"}, "train": {"epochs": 0}}))
    with pytest.raises(ParamsError) as err:
        config.load(p)
    lines = str(err.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{p}: ") for line in lines)
    assert "params.yaml" not in str(err.value)


def _fields_with_defaults(model, prefix=""):
    out = set()
    for name, f in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, config.Section):
            out |= _fields_with_defaults(ann, path + ".")
        elif not f.is_required():
            out.add(path)
    return out


def test_params_yaml_is_the_one_source_of_defaults():
    """Only keys whose absence means 'off' have a default in code (issue 19)."""
    off = {f"features.augment.{k}" for k in ("speed", "pitch_semitones", "pitch_probability",
                                             "reverb_probability", "rt60_s", "eq_probability",
                                             "snr_db", "gain_db", "fresh_unknown")} | {
        "data.folder", "data.train_unknown_percentage"} | {
        f"data.synthetic.{k}" for k in ISSUE16_OFF}
    assert _fields_with_defaults(config.Params) == off
    raw = config.raw_params()
    del raw["qat"]["finetune"]["lsq_max_bits"]
    with pytest.raises(ParamsError, match=r"'qat.finetune.lsq_max_bits' is missing"):
        config.parse(raw)


def test_a_params_file_may_hold_only_what_it_changes(tmp_path):
    (tmp_path / "exp.yaml").write_text("train: {epochs: 3}\n")
    p = config.load(tmp_path / "exp.yaml")
    assert p.train.epochs == 3
    assert p.model_dump()["qat"] == config.defaults().model_dump()["qat"]


def test_finetune_epochs_per_bit_width():
    """One number for every point, or one per width (merged into params.yaml's mapping by a
    partial params file); a swept width with no entry is named before any work starts."""
    p = config.with_overrides({"qat": {"finetune": {"epochs": 3}}})
    assert [p.qat.finetune.epochs_for(b, "qat") for b in (2, 8)] == [3, 3]
    p = config.with_overrides({"qat": {"finetune": {"epochs": {2: 2, 4: 5}}}})
    assert p.qat.finetune.epochs_for(4, "qat") == 5
    assert p.qat.finetune.epochs_for(2, "qat") == 2
    p = config.parse({**config.raw_params(), "minifloat": {
        **config.raw_params()["minifloat"], "finetune": {
            **config.raw_params()["minifloat"]["finetune"], "epochs": {4: 2}}}})
    with pytest.raises(ParamsError, match=r"minifloat.finetune.epochs has no entry for 8 bits"):
        p.minifloat.finetune.epochs_for(8, "minifloat")
