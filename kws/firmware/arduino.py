"""The Arduino sketch folder for the Nano 33 BLE Sense: the sketch (firmware/arduino), the
engine (firmware/runtime) and the generated model files side by side, ready to open in the
Arduino IDE with no extra library; and a compile check of it with arm-none-eabi-g++ against
a stub of the Arduino/PDM API (tests/fixtures/arduino_stub), since arduino-cli and the mbed
core cannot be installed from a package registry here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kws.firmware.toolchain import FIRMWARE_DIR, M4_FLAGS, RUNTIME, BuildError, find_tool

SKETCH = "kws_mcu"
FILE_DEPS = ("firmware/arduino",)  # kws.deps
GENERATED = ("model.c", "model.h", "model_settings.h", "features_tables.c", "stream_settings.h",
             "postprocess_tables.c")


def write_sketch(gen_dir: str | Path, out_dir: str | Path) -> Path:
    """``out_dir/kws_mcu/`` with kws_mcu.ino, the runtime and the generated files."""
    gen_dir, out_dir = Path(gen_dir), Path(out_dir)
    header = (gen_dir / "model.h").read_text()
    if "KWS_MODEL_INPUT_INT8 0" in header or "KWS_MODEL_OUTPUT_INT8 0" in header:
        raise BuildError("the sketch feeds int8 MFCC features and reads int8 scores: convert the "
                         "model with int8 input and output (inference_input_type/"
                         "inference_output_type = tf.int8)")
    sketch = out_dir / SKETCH
    if sketch.exists():
        shutil.rmtree(sketch)
    sketch.mkdir(parents=True)
    shutil.copyfile(FIRMWARE_DIR / "arduino" / f"{SKETCH}.ino", sketch / f"{SKETCH}.ino")
    for f in sorted(RUNTIME.glob("*.[ch]")):
        shutil.copyfile(f, sketch / f.name)
    for name in GENERATED:
        shutil.copyfile(gen_dir / name, sketch / name)
    return sketch


def compile_check(sketch: str | Path, stub_dir: str | Path, work: str | Path) -> list[Path]:
    """Compile every source of the sketch for the Cortex-M4F (the .ino as C++ against the
    stub headers in ``stub_dir``); returns the object files. Raises BuildError."""
    sketch, stub_dir, work = Path(sketch), Path(stub_dir), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    gcc, gxx = find_tool("arm-none-eabi-gcc"), find_tool("arm-none-eabi-g++")
    objs = []
    for src in sorted(sketch.iterdir()):
        if src.suffix not in (".c", ".ino"):
            continue
        obj = work / (src.stem + ".o")
        if src.suffix == ".c":
            cmd = [gcc, *M4_FLAGS, "-std=c99", "-Wall", "-Wextra"]
        else:
            cmd = [gxx, *M4_FLAGS, "-x", "c++", "-std=gnu++17", "-Wall", "-Wextra",
                   "-fno-exceptions", "-fno-rtti", f"-I{stub_dir}"]
        cmd += [f"-I{sketch}", "-c", str(src), "-o", str(obj)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(f"{src.name} does not compile: "
                             f"{(res.stderr or res.stdout).strip().splitlines()[:1]}")
        objs.append(obj)
    return objs
