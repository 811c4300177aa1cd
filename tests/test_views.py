"""`kws views` / `kws info` as a user runs them (subprocess: exit codes, stderr, no traceback)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
PNG = b"\x89PNG\r\n\x1a\n"


def kws(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "kws.cli", *map(str, args)],
                          capture_output=True, text=True, env=ENV, cwd=cwd)


def _tone(path, rate=16000, channels=1, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 700 * t) * np.hanning(len(t))
    sf.write(str(path), np.stack([x] * channels, 1) if channels > 1 else x, rate,
             subtype="PCM_16")
    return path


def test_views_16k(tmp_path):
    res = kws("views", _tone(tmp_path / "a.wav"), "-o", tmp_path / "a.png")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    assert res.stderr == ""  # nothing converted, nothing to say


def test_views_44k_stereo_notes_conversion(tmp_path):
    wav = _tone(tmp_path / "b.wav", rate=44100, channels=2, seconds=1.3)
    res = kws("views", wav, "-o", tmp_path / "out" / "b.png")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out/b.png").read_bytes()[:8] == PNG
    assert "resampled from 44100 Hz to 16000 Hz" in res.stderr
    assert "2 channels mixed down" in res.stderr


def test_views_refuses_non_wav(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio\n")
    res = kws("views", bad, "-o", tmp_path / "x.png")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("error:") and "notes.txt" in res.stderr
    assert not (tmp_path / "x.png").exists()
    missing = kws("views", tmp_path / "nope.wav")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_draw_views_has_five_labelled_panels():
    from kws.views import draw_views

    fig = draw_views(np.zeros(16000, np.float32), title="t")
    try:
        axes = [a for a in fig.axes if a.get_title()]
        assert len(axes) == 5
        assert all(a.get_xlabel() and a.get_ylabel() for a in axes)
        units = " ".join(a.get_xlabel() + a.get_ylabel() for a in axes)
        assert "(s)" in units and "(Hz)" in units and "dB" in units
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_info_and_help():
    res = kws("info")
    assert res.returncode == 0, res.stderr
    assert "_silence_ _unknown_ yes" in res.stdout and "49 x 10" in res.stdout
    top = kws("--help")
    assert top.returncode == 0 and "views" in top.stdout and "info" in top.stdout
    assert kws("views", "--help").returncode == 0
    assert kws().returncode == 2  # a subcommand is required
