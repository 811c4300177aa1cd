"""The report stage: every section from hand-made stage outputs (numbers checked by hand), a
one-line "run this stage" for each missing input, figures that exist where the page links them,
byte-identical reruns, and a one-line error for a corrupt input."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kws import report

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "stages" / "report.py"
LABELS = ["_silence_", "_unknown_", "yes", "no"]
BOARD = {"name": "Arduino Nano 33 BLE", "mcu": "nRF52840", "core": "Cortex-M4F",
         "clock_mhz": 64, "flash_bytes": 1048576, "ram_bytes": 262144, "key": "nano33ble"}


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def minimal(root: Path) -> Path:
    """Only the train stage's metrics."""
    _json(root / "train/metrics.json", {
        "arch": "ds_cnn", "epochs": 3, "device": "cpu", "train_seconds": 12.0, "best_epoch": 2,
        "test_accuracy": 0.875, "val_accuracy": 0.9, "clips": {"test": 40}, "seed": 0,
        "per_class_accuracy": {lab: 0.875 for lab in LABELS}, "real_sample_accuracy": None})
    return root


def full(root: Path) -> Path:
    minimal(root)
    _json(root / "data/metrics.json", {
        "source": "synthetic", "clips": {"total": 700, "train": 560, "validation": 70,
                                         "test": 70},
        "words": 35, "speakers": {"train": 16, "validation": 2, "test": 2},
        "speakers_in_more_than_one_split": 0, "background_noise_files": 2,
        "skipped": {"count": 0}, "synthetic": {"engine": "espeak-ng 1.51"}})
    clips = {"train": {"_silence_": 10, "_unknown_": 10, "yes": 40, "no": 40},
             "validation": {"_silence_": 2, "_unknown_": 2, "yes": 8, "no": 8},
             "test": {"_silence_": 2, "_unknown_": 2, "yes": 8, "no": 8}}
    _json(root / "features/metrics.json", {
        "labels": LABELS, "clips": clips, "examples": {"train": 300, "validation": 20,
                                                       "test": 20},
        "augmented_copies": 2, "share": {s: {"_silence_": 0.1, "_unknown_": 0.1}
                                         for s in clips}})
    (root / "figures/views").mkdir(parents=True)
    shutil.copy(ROOT / "tests/fixtures/vega/LICENSE", root / "figures/views/yes.png")  # a file
    _json(root / "profile/metrics.json", {
        "arch": "ds_cnn", "board": BOARD, "macs": 2_000_000,
        "conventions": {"flops": "2 per MAC", "peak_ram": "largest live set"},
        "latency": {"cpu": {"median_ms": 0.5, "iqr_ms": 0.05, "num_threads": 1}, "cuda": None}})
    _csv(root / "profile/models.csv", [
        {"arch": "tiny_conv", "params": 12660, "macs": 92000, "flops": 185012,
         "flash_fp32_bytes": 50640, "flash_int8_bytes": 13107, "peak_ram_fp32_bytes": 5960,
         "peak_ram_int8_bytes": 1490, "trained": "False"},
        {"arch": "ds_cnn", "params": 23756, "macs": 2_000_000, "flops": 4_000_000,
         "flash_fp32_bytes": 90416, "flash_int8_bytes": 26214, "peak_ram_fp32_bytes": 64000,
         "peak_ram_int8_bytes": 26214, "trained": "True"}])
    _json(root / "convert/metrics.json", {
        "float_accuracy": 0.875, "int8_accuracy": 0.85, "tflite_bytes": 45000,
        "tflm_arena_bytes": 24000, "int8_float_top1_agreement": 0.95,
        "litert_tflm_top1_agreement": 1.0, "litert_tflm_max_abs_diff_lsb": 1,
        "op_counts": {"CONV_2D": 5}, "layout_ops": [], "int8_minus_float_points": -2.5})
    _csv(root / "ptq/accuracy_vs_bits.csv", [
        {"bits": b, "ptq_symmetric": a, "ptq_asymmetric": a, "float": 0.875}
        for b, a in ((4, 0.25), (6, 0.8), (8, 0.87))])
    _csv(root / "qat/accuracy_vs_bits.csv", [
        {"bits": b, "qat_symmetric": a, "qat_asymmetric": a}
        for b, a in ((4, 0.87), (6, 0.87), (8, 0.875))])
    _csv(root / "minifloat/accuracy.csv", [
        {"point": "float32", "format": "float32", "method": "float", "bits": 32,
         "accuracy": 0.875},
        {"point": "E4M3 PTQ", "format": "E4M3", "method": "ptq", "bits": 8, "accuracy": 0.86}])
    # the keys the firmware stage (kws/firmware/report.py) writes
    _json(root / "firmware/metrics.json", {
        "flash_bytes": 52428, "ram_bytes": 32768, "arena_bytes": 16000, "tflm_arena_bytes": 24000,
        "clock_hz": 64_000_000, "total_ms": 50.0,
        "stages": {"features": {"cycles": 640_000, "ms": 10.0, "cycles_per_frame": 13061},
                   "network": {"cycles": 2_560_000, "ms": 40.0},
                   "postprocess": {"cycles": 0, "ms": 0.0}},
        "network": {"dsp": {"cycles": 2_560_000, "ms": 40.0, "cycles_per_mac": 1.28},
                    "portable": {"cycles": 5_120_000, "ms": 80.0, "cycles_per_mac": 2.56}},
        "timing_note": "Cycles come from a Cortex-M4 timing model.",
        "litert": {"clips": 20, "host_exact_clips": 20, "emulated_clips": 3,
                   "emulated_bit_exact": True},
        "mfcc": {"identical_fraction": 0.99875, "max_lsb": 1}})
    # the prune stage's plot tables (kws/prune/run.py unstructured_table, structured_table)
    _csv(root / "prune/unstructured.csv", [
        {"sparsity": s, "params": p, "unstructured_pruned": a, "unstructured_finetuned": f}
        for s, p, a, f in ((0.0, 23756, 0.875, 0.875), (0.5, 11878, 0.8, 0.86))])
    _csv(root / "prune/structured.csv", [
        {"ratio": r, "params": p, "flops": fl, "cpu_ms": c, "mcu_ms": m, "flash_bytes": fb,
         "ram_bytes": 1, "l1_pruned": a, "l1_finetuned": f, "l1_finetuned_int8": f}
        for r, p, fl, c, m, fb, a, f in ((0.0, 23756, 4e6, 0.5, 40.0, 52428, 0.875, 0.875),
                                         (0.5, 6000, 1e6, 0.2, 11.0, 30000, 0.3, 0.8))])
    # the stream stage's metrics and DET tables (kws/stream/run.py)
    per = {"yes": {"keywords": 200, "hits": 190, "hit_rate": 0.95, "false_accepts": 0,
                   "fa_per_hour": 0.0, "delay_after_word_end": {"median_ms": 580.0}},
           "no": {"keywords": 200, "hits": 170, "hit_rate": 0.85, "false_accepts": 1,
                  "fa_per_hour": 1.0, "delay_after_word_end": {"median_ms": 620.0}}}
    syn = {"minutes": 60.0, "keywords": 400, "keyword_words": 400, "unknown_words": 600,
           "words": 1000, "threshold": 0.85, "hit_rate": 0.9, "fa_per_hour": 1.0, "repeats": 1,
           "false_accepts": 1, "false_accepts_on": {"keyword": 0, "unknown_word": 1, "background": 0},
           "delay_after_word_end": {"median_ms": 600.0, "p90_ms": 900.0},
           "per_keyword": per, "hit_rate_by_snr": {"<10 dB": {"keywords": 100, "hits": 80,
                                                               "hit_rate": 0.8}}}
    real = {**syn, "minutes": 17.5, "keywords": 100, "words": 300, "hit_rate": 0.5,
            "fa_per_hour": 6.86, "per_keyword": {"yes": {"hit_rate": 0.6, "fa_per_hour": 3.43}}}
    _json(root / "stream/metrics.json", {
        "synthetic": syn, "real": real, "bar": {"fa_per_hour_max": 1.0, "hit_rate_min": 0.9,
                                                "met": True},
        "threshold": {"chosen": 0.85, "how": "the lowest threshold meeting the target",
                      "target_fa_per_hour": 1.0},
        "settings": {"period_ms": 200, "average_window_ms": 1000, "suppression_ms": 1500,
                     "snr_db": [10, 30], "silence_share": 0.2, "reverb_probability": 0.5},
        "rules": "hit: ...", "notes": [],
        "emulated": {"seconds_of_stream": 61.4, "inferences": 303, "keyword_detections": 12,
                     "threshold": 0.7,
                     "decisions_identical": True, "stream_state_bytes": 5140,
                     "step": {"period_ms": 200, "new_frames": 10, "clock_hz": 64_000_000,
                              "cycles": {"features": 400_000, "network": 2_560_000,
                                         "postprocess": 3_200, "total": 2_963_200},
                              "ms": {"features": 6.25, "network": 40.0, "postprocess": 0.05,
                                     "total": 46.3},
                              "features_cycles_per_frame": 40_000.0,
                              "duty_cycle": 0.2315, "headroom": 0.7685}}})
    _csv(root / "stream/det_synthetic.csv", [
        {"threshold": t, "fa_per_hour": fa, "miss_rate": m, "hit_rate": 1 - m}
        for t, fa, m in ((0.5, 20.0, 0.05), (0.85, 1.0, 0.1), (0.95, 0.0, 0.4))])
    _csv(root / "stream/det_real.csv", [
        {"threshold": t, "fa_per_hour": fa, "miss_rate": m, "hit_rate": 1 - m}
        for t, fa, m in ((0.5, 40.0, 0.3), (0.85, 6.86, 0.5), (0.95, 0.0, 0.8))])
    return root


def _links(page: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)


def _run(reports: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STAGE), "--reports", str(reports), *extra],
                          capture_output=True, text=True, cwd=ROOT)


def test_full_report_numbers(tmp_path):
    root = full(tmp_path / "reports")
    res = _run(root)
    assert res.returncode == 0, res.stderr
    page = (root / "README.md").read_text()
    assert "Not in this run" not in page
    # data: totals of the hand-made split counts (10+10+40+40, 2+2+8+8)
    assert "| **total** | **100** | **20** | **20** |" in page
    assert "16/2/2 speakers" in page
    # board share: 26214 / 1048576 = 2.5% flash, 26214 / 262144 = 10.0% RAM
    assert "25.6 KiB (2.5%)" in page and "25.6 KiB (10.0%)" in page
    # measured firmware: 52428 / 1048576 = 5.0%, 32768 / 262144 = 12.5%
    assert "flash 51.2 KiB (5.0%)" in page and "RAM 32.0 KiB (12.5%)" in page
    # latency: MCU network 40 ms vs CPU 0.5 ms = 80x; the whole window 50 ms
    assert "about 80x slower" in page and "takes 50.0 ms" in page
    assert "| Cortex-M4 64 MHz (emulated) | network | 40.00 |" in page
    # the streaming step (stream stage) beside the clip figures: 10 frames 6.25 ms, network 40,
    # smoothing 0.05: 46.3 ms per 200 ms = 23.2% busy, 76.8% headroom
    assert ("one step every 200 ms computes 10 new MFCC frames (6.2 ms), the network (40.0 ms) "
            "and the smoothing (0.05 ms): 46.3 ms, a duty cycle of 23.2% and 76.8% headroom") in page
    assert "| Cortex-M4 64 MHz (emulated), streaming step | features (10 new frames) | 6.25 |" in page
    assert "1.28 cycles/MAC" in page and "not a board measurement" in page
    # int8 and quantization: within 1 point of 0.875 -> PTQ at 8 bits, QAT at 4 bits
    assert "| int8 TFLite (LiteRT) | 85.0% | 45,000 B | 24,000 B |" in page
    assert "PTQ goes down to 8 bits and QAT to 4 bits" in page
    assert ("exact int8 outputs on 20/20 test clips (host build), and the emulated Cortex-M4 "
            "build on 3 clips bit-exactly; its C MFCC equals the Python one in 99.88%") in page
    # literature: the cited DS-CNN parameter count beside ours
    assert "| `ds_cnn` | params | 23,756 | 23,756 | yes |" in page
    # pruning tables
    assert "| 0.5 | 11,878 | 80.0% | 86.0% |" in page
    assert "| 0.5 | 6,000 | 1,000,000 | 0.200 | 11.00 | 30,000 | 30.0% / 80.0% |" in page
    # 4e6 / 1e6 FLOPs = 4.0x, 40 -> 11 ms
    assert ("removing half of the channels cuts FLOPs 4.0x and 11 instead of 40 ms on the "
            "emulated MCU, at 80.0% accuracy after fine-tuning (best norm: l1)") in page
    assert "leaves 80.0% accuracy, 86.0% after fine-tuning" in page
    # every linked figure exists; our own figures are PNGs
    for link in _links(page):
        assert (root / link).is_file(), link
    figs = sorted(p.name for p in (root / "figures/report").iterdir())
    assert figs == ["board.png", "dataset.png", "det.png", "latency.png", "pruning.png",
                    "quantization.png"]
    # the stream section: both streams, the bar, the budget, host = device
    assert "Threshold 0.85: the lowest threshold meeting the target" in page
    assert "| synthetic | 60.0 | 400 | 0.85 | 90.0% | 1.00 | 600 | 900 | 1 |" in page
    assert "| real clips | 17.5 | 100 | 0.85 | 50.0% | 6.86 |" in page
    assert "is **met**" in page and "**76.8% headroom**" in page
    assert "(10-30 dB below speech, 20% near silence)" in page
    assert "| yes | 200 | 95.0% | 0.00 | 580 | 60.0% | 3.43 |" in page
    assert "| **step** | 2,963,200 | **46.30** |" in page
    assert "at threshold 0.7 (303 inferences, 12 keyword detections): **identical**" in page
    for f in figs:
        assert (root / "figures/report" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the dvc plot tables
    board = list(csv.DictReader((root / "report/board.csv").open()))
    got = {r["point"]: float(r["percent"]) for r in board}
    assert got["ds_cnn int8 peak RAM"] == pytest.approx(10.0, abs=1e-3)
    assert got["firmware flash (measured)"] == pytest.approx(5.0, abs=1e-3)
    lat = {r["point"]: float(r["ms"]) for r in csv.DictReader((root / "report/latency.csv").open())}
    acc = {r["point"]: float(r["accuracy"])
           for r in csv.DictReader((root / "report/accuracy.csv").open())}
    assert acc == {"float32 test (PyTorch)": 0.875, "int8 test (LiteRT)": 0.85}
    assert lat == {"cpu network": 0.5, "mcu features": 10.0, "mcu network": 40.0,
                   "mcu postprocess": 0.0, "mcu stream step features": 6.25,
                   "mcu stream step network": 40.0, "mcu stream step postprocess": 0.05}


def test_real_sample_line_gives_its_intervals(tmp_path):
    root = minimal(tmp_path / "reports")
    m = json.loads((root / "train/metrics.json").read_text())
    m["real_sample_accuracy"] = 0.75
    m["real_sample"] = {"clips": 300, "keyword_clips": 100, "unknown_clips": 200,
                        "keyword_accuracy": 0.6, "unknown_accuracy": 0.825,
                        "interval_95": {"accuracy": [0.698, 0.796],
                                        "keyword_accuracy": [0.502, 0.6906],
                                        "unknown_accuracy": [0.766, 0.871]}}
    _json(root / "train/metrics.json", m)
    res = _run(root)
    assert res.returncode == 0, res.stderr
    page = (root / "README.md").read_text()
    assert ("On 300 real Speech Commands recordings the model scores **75.0% (95% interval "
            "69.8%-79.6%)**: 60.0% (95% interval 50.2%-69.1%) on 100 keyword clips, 82.5% "
            "(95% interval 76.6%-87.1%) on 200 other words.") in page


def test_missing_sections_name_their_stage(tmp_path):
    root = minimal(tmp_path / "reports")
    res = _run(root)
    assert res.returncode == 0, res.stderr
    page = (root / "README.md").read_text()
    assert "test accuracy 87.5%" in page
    for stage in ("download featurize", "featurize", "profile firmware", "convert",
                  "ptq qat minifloat", "prune", "stream"):
        assert f"Run `dvc repro {stage}` to fill this section" in page, stage
    for link in _links(page):
        assert (root / link).is_file(), link
    assert sorted(p.name for p in (root / "figures/report").iterdir()) == []


def test_firmware_missing_is_one_line_and_rest_renders(tmp_path):
    root = full(tmp_path / "reports")
    shutil.rmtree(root / "firmware")
    page = report.build(root, tmp_path / "f", tmp_path / "d")
    lines = [ln for ln in page.splitlines() if "reports/firmware/metrics.json" in ln]
    assert len(lines) == 2 and all("`dvc repro firmware`" in ln for ln in lines)
    assert "| CPU float32 (torch, 1 thread(s)) | network | 0.500 |" in page
    assert "Cortex-M4 64 MHz (emulated) |" not in page


def test_rerun_is_byte_identical(tmp_path):
    root = full(tmp_path / "reports")
    own = root / "report/metrics.json"  # the stage's own wall time: a measurement
    assert _run(root).returncode == 0
    first = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p != own}
    m1 = json.loads(own.read_text())
    assert _run(root).returncode == 0
    second = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p != own}
    m2 = json.loads(own.read_text())
    assert first == second
    assert {**m1, "seconds": 0} == {**m2, "seconds": 0} and m2["seconds"] > 0


def test_corrupt_input_is_one_line_and_writes_nothing(tmp_path):
    root = full(tmp_path / "reports")
    (root / "convert/metrics.json").write_text("{not json")
    res = _run(root)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "convert/metrics.json" in res.stderr and "dvc repro -f convert" in res.stderr
    assert not (root / "README.md").exists()
    assert not (root / "figures/report").exists()


def test_missing_reports_folder(tmp_path):
    res = _run(tmp_path / "nope")
    assert res.returncode == 2 and "run the pipeline first" in res.stderr


def test_help():
    res = subprocess.run([sys.executable, str(STAGE), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "reports/README.md" in res.stdout


def test_cost_section_sums_the_stage_seconds(tmp_path):
    root = full(tmp_path / "reports")
    given = {"data": 300.4, "features": 60.2, "train": 250.0, "profile": 30.0,
             "convert": 20.0, "firmware": 90.0, "stream": 45.0}
    for d, s in given.items():
        p = root / d / "metrics.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "seconds": s}))
    _json(root / "qat/metrics.json", {"seconds": 100.0})  # ptq, minifloat, prune: not run
    assert _run(root).returncode == 0
    page = (root / "README.md").read_text()
    cost = page[page.index("## 10. What this run cost"):]
    assert "| qat | 100 | 1.7 |" in cost and "| ptq | not run |" in cost
    assert "| stream | 45 | 0.8 |" in cost
    total = sum(given.values()) + 100.0
    assert f"| **total** | **{total:,.0f}** |" in cost
