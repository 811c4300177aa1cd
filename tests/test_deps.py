"""Code deps cannot drift: every project file a stage runs is in its dvc.yaml deps (and nothing
else is), checked against the stdlib's own import scanner; the sweep caches key on the same
closure."""

import shutil
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from kws import deps

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_yaml_declares_exactly_the_code_each_stage_runs():
    assert deps.check() == [], "run: python -m kws.deps --write"


@pytest.mark.parametrize("stage", sorted(deps.expected_deps()))
def test_closure_matches_modulefinder(stage):
    """An independent scan: ModuleFinder reads the bytecode's IMPORT_NAME ops (imports inside
    functions included), looking only in the repository, so third-party imports stay out."""
    script = deps.expected_deps()[stage][1]
    script = next(f for f in script if f.startswith("stages/"))
    mf = ModuleFinder(path=[str(ROOT)])
    mf.run_script(str(ROOT / script))
    found = {str(Path(m.__file__).resolve().relative_to(ROOT)) for name, m in mf.modules.items()
             if m.__file__ and (name == "kws" or name.startswith("kws."))}
    ours = {f for f in deps.closure(script) if f.endswith(".py") and f != script}
    assert ours == found


def test_closure_follows_lazy_imports_and_declared_files():
    c = deps.closure("stages/featurize.py")
    assert "kws/frontend.py" in c                      # imported inside kws.features.mfcc
    assert "firmware/runtime/kws_frontend.c" in c      # FILE_DEPS of kws/frontend.py
    assert "kws/training.py" not in c and "kws/quant/run.py" not in c
    fw = deps.closure("stages/firmware.py")
    assert "firmware/runtime" in fw and "firmware/runtime/kws_frontend.c" not in fw  # folder covers it


def test_fingerprint_changes_with_the_closure_and_only_with_it(tmp_path, monkeypatch):
    for d in ("kws", "stages", "firmware"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(deps, "ROOT", tmp_path)
    before = deps.fingerprint("stages/ptq.py")
    assert deps.fingerprint("stages/ptq.py") == before
    # outside ptq's closure (pruning): same key, cached points stay valid
    (tmp_path / "kws/prune/run.py").write_text((tmp_path / "kws/prune/run.py").read_text() + "\n#\n")
    assert deps.fingerprint("stages/ptq.py") == before
    # inside it (a shared module): a new key
    (tmp_path / "kws/stage.py").write_text((tmp_path / "kws/stage.py").read_text() + "\n#\n")
    assert deps.fingerprint("stages/ptq.py") != before


def test_check_names_a_missing_and_an_extra_dep(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    bad = text.replace("      - kws/frontend.py\n", "", 1).replace(
        "      - stages/report.py\n", "      - stages/report.py\n      - kws/training.py\n", 1)
    (tmp_path / "dvc.yaml").write_text(bad)
    problems = deps.check(tmp_path / "dvc.yaml")
    assert any("imports but does not declare kws/frontend.py" in p for p in problems)
    assert any(p.startswith("report: declares but does not import kws/training.py")
               for p in problems)
    assert deps.write(tmp_path / "dvc.yaml") and deps.check(tmp_path / "dvc.yaml") == []
