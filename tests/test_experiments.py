"""The experiment workflow a user follows, end to end, in a temporary git copy of this repository
with tiny params: two `dvc exp run`s (one with more epochs, one with another model.arch), then
`dvc exp show` and `dvc plots diff` must contain both, and the HTML that `dvc plots diff` renders
must draw every plot in headless Chromium with no error in the page console.

The HTML loads vega, vega-lite and vega-embed from a CDN. The test machine is offline, so the
test points those three <script> tags at the same versions vendored in tests/fixtures/vega
(from the npm registry, BSD-3 licence); the plot specs and data are dvc's, untouched.
Chromium is driven with selenium (Debian chromium + chromium-driver; `make setup` installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
VEGA = Path(__file__).resolve().parent / "fixtures" / "vega"
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.slow

# Small enough for CI on 2 cores: 2 keywords, 10 espeak-ng voices, no augmentation copies, 1-2 epochs.
TINY = {
    "data": {"words": ["yes", "no"], "validation_percentage": 20, "testing_percentage": 20,
             "synthetic": {"speakers": 10, "engines": ["espeak-ng"], "noise_files": 1,
                           "noise_seconds": 2.0,
                           "workers": 2}},
    "features": {"augment": {"copies": 0}},
    "train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 64, "num_threads": 1,
              "real_samples_dir": None},
}
# A workspace `dvc exp run` leaves its params in params.yaml, so the second one sets epochs too.
EXPERIMENTS = {"exp-epochs": ["train.epochs=2"],
               "exp-tiny-conv": ["model.arch=tiny_conv", "train.epochs=1"]}


def _merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


def _env(repo: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="2", DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _sh(repo: Path, *cmd: str, timeout: int = 600, quiet: bool = False) -> str:
    """Run ``cmd`` in ``repo``; it must succeed, and with ``quiet`` warn about nothing either
    (dvc plots only warns, for example, when a plot names a column its file lacks)."""
    res = subprocess.run(list(cmd), cwd=repo, env=_env(repo), capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    if quiet:
        assert not re.search(r"WARNING|ERROR", res.stderr), res.stderr[-3000:]
    return res.stdout


def _copy_repo(dst: Path) -> None:
    """The files git would give a clone of the working tree (tracked and untracked, not ignored),
    so the test checks the code as it is now, committed or not."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make setup installs it)")
    repo = tmp_path_factory.mktemp("exp") / "repo"
    repo.mkdir()
    _copy_repo(repo)
    yaml = YAML()  # round trip, as dvc itself rewrites params.yaml
    params = yaml.load((repo / "params.yaml").read_text())
    _merge(params, TINY)
    with (repo / "params.yaml").open("w") as f:
        yaml.dump(params, f)
    _sh(repo, "git", "init", "-q", "-b", "main")
    # dvc exp commits through its own git libraries: give them an identity in the repo itself
    _sh(repo, "git", "config", "user.name", "kws test")
    _sh(repo, "git", "config", "user.email", "kws-test@example.invalid")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-q", "-m", "baseline with tiny params")
    for name, sets in EXPERIMENTS.items():
        args = [a for s in sets for a in ("--set-param", s)]
        _sh(repo, str(BIN / "dvc"), "exp", "run", "train", "-n", name, *args)
    return repo


def test_exp_show_has_both_experiments(repo):
    rows = json.loads(_sh(repo, str(BIN / "dvc"), "exp", "show", "--json"))
    exps = {}
    for row in rows:
        for exp in row.get("experiments") or []:
            for rev in exp.get("revs", []):
                if rev.get("name") in EXPERIMENTS:
                    exps[rev["name"]] = rev["data"]
    assert set(exps) == set(EXPERIMENTS)
    params = {n: d["params"]["params.yaml"]["data"] for n, d in exps.items()}
    assert params["exp-epochs"]["train"]["epochs"] == 2
    assert params["exp-epochs"]["model"]["arch"] == "ds_cnn"
    assert params["exp-tiny-conv"]["model"]["arch"] == "tiny_conv"
    assert params["exp-tiny-conv"]["train"]["epochs"] == 1
    for name, d in exps.items():
        m = d["metrics"]["reports/train/metrics.json"]["data"]
        assert m["arch"] == params[name]["model"]["arch"]
        assert m["epochs"] == params[name]["train"]["epochs"]
        assert 0.0 <= m["test_accuracy"] <= 1.0
    # the table a person reads names both too
    table = _sh(repo, str(BIN / "dvc"), "exp", "show", "--no-pager", "--md")
    assert "exp-epochs" in table and "exp-tiny-conv" in table


def test_plots_diff_has_both_experiments(repo):
    out = json.loads(_sh(repo, str(BIN / "dvc"), "plots", "diff", "exp-epochs", "exp-tiny-conv",
                         "--json", quiet=True))
    revs_per_plot = {}
    for pid, items in out.get("data", {}).items():
        for item in items:
            for rev in item.get("content", {}).get("data", {}).get("values", []) or []:
                revs_per_plot.setdefault(pid, set()).add(rev.get("rev"))
            if item.get("type") == "image":
                revs_per_plot.setdefault(pid, set()).add(item.get("revisions", [None])[0])
    assert "train_loss" in revs_per_plot, sorted(revs_per_plot)
    assert {"exp-epochs", "exp-tiny-conv"} <= revs_per_plot["train_loss"]
    assert {"exp-epochs", "exp-tiny-conv"} <= revs_per_plot["train_accuracy"]
    errors = out.get("errors") or []
    assert not errors, errors


def _offline_html(html: Path) -> int:
    """Point the CDN scripts at tests/fixtures/vega; return how many vega plots the page has."""
    text = html.read_text()
    pattern = r"https://cdn\.jsdelivr\.net/npm/(vega(?:-lite|-embed)?@[0-9.]+)"
    found = re.findall(pattern, text)
    assert sorted(found) == sorted(p.name[:-len(".min.js")] for p in VEGA.glob("*.min.js")), (
        f"dvc's HTML asks for {found}: vendor those versions in {VEGA}")
    text = re.sub(pattern, lambda m: (VEGA / f"{m.group(1)}.min.js").as_uri(), text)
    html.write_text(text)
    return text.count("vegaEmbed(")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="chromium and chromium-driver not installed (make setup installs them)")
def test_plots_html_renders_in_chromium(repo, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "plots"
    _sh(repo, str(BIN / "dvc"), "plots", "diff", "exp-epochs", "exp-tiny-conv", "-o", str(out),
        quiet=True)
    html = out / "index.html"
    n_vega = _offline_html(html)
    assert n_vega >= 5  # loss, accuracy, confusion, quantization, minifloat, report bars

    opts = webdriver.ChromeOptions()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    try:
        driver.get(html.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.querySelectorAll('canvas, svg.marks')"
                                       ".length") >= n_vega)
        drawn = driver.execute_script(
            "return Array.from(document.querySelectorAll('canvas'))"
            ".filter(c => c.width > 0 && c.height > 0).length")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth])")
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert drawn == n_vega
    assert images and all(w for _, w in images), images
    # each experiment's training curves appear as an image of its own
    assert sum("training_curves" in src for src, _ in images) == 2
    severe = [e["message"] for e in logs if e["level"] == "SEVERE"]
    assert not severe, severe
