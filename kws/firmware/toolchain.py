"""Compile the firmware: a host build (cc) for tests, the Cortex-M4F ELF (arm-none-eabi-gcc)
for size and emulated timing, and the ELF's flash/RAM figures.

Sources: ``firmware/runtime`` (engine), the generated ``model.c``/``features_tables.c``/
``postprocess_tables.c`` (in a generated folder), and a harness (``firmware/host`` or ``firmware/cortex_m4``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from kws.errors import KwsError, ToolMissingError

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
FILE_DEPS = ("firmware/runtime", "firmware/host", "firmware/cortex_m4")  # kws.deps
RUNTIME = FIRMWARE_DIR / "runtime"
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-O2"]
APT_LINE = "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]


class BuildError(KwsError):
    """The compiler rejected the firmware sources."""


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if name.startswith("arm-none-eabi"):
            raise ToolMissingError(f"{name} not found: install the Arm cross toolchain with "
                                   f"`sudo {APT_LINE}` (or `make system-deps`)")
        raise ToolMissingError(f"{name} not found: install a C compiler (`sudo apt-get install -y "
                               "gcc`)")
    return path


def _compile(cmd: list[str], cwd: str | Path | None = None) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).splitlines() if "error" in ln]
        first = lines[0] if lines else (res.stderr or res.stdout).strip().splitlines()[-1:]
        raise BuildError(f"{Path(cmd[0]).name} failed: {first}")


def _sources(gen_dir: Path, harness: Path) -> list[str]:
    """The runtime (the op kernels model.c includes, no others), the generated files and the
    harness."""
    model_c = (gen_dir / "model.c").read_text() if (gen_dir / "model.c").is_file() else ""
    srcs = [f for f in sorted(RUNTIME.glob("*.c"))
            if not f.name.startswith("kws_op_") or f'#include "{f.stem}.h"' in model_c]
    srcs += [gen_dir / "model.c", gen_dir / "features_tables.c", gen_dir / "postprocess_tables.c"]
    srcs += sorted(harness.glob("*.c"))
    return [str(s) for s in srcs]


def build_host(gen_dir: str | Path, out: str | Path, sanitize: bool = False,
               trace: bool = False, extra_flags: list[str] | None = None) -> Path:
    """The host test program ``kws_host`` (see firmware/host/kws_host.c). ``extra_flags``:
    e.g. ``-DKWS_FORCE_DSP`` runs the SIMD kernels on C models of the DSP instructions."""
    cc = find_tool("cc")
    gen_dir, out = Path(gen_dir), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cc, "-O2", *WARN, f"-I{RUNTIME}", f"-I{gen_dir}"]
    if sanitize:
        cmd += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer"]
    if trace:
        cmd += ["-DKWS_TRACE_OPS"]
    cmd += list(extra_flags or [])
    cmd += [*_sources(gen_dir, FIRMWARE_DIR / "host"), "-lm", "-o", str(out)]
    _compile(cmd)
    return out


def build_m4(gen_dir: str | Path, out: str | Path, portable: bool = False,
             harness: str | Path | None = None) -> Path:
    """The Cortex-M4F harness ELF; ``portable`` leaves the DSP-extension kernels out (the
    plain C baseline, same bits). ``harness``: a C file in place of
    firmware/cortex_m4/kws_m4_harness.c (the startup code and the linker script stay). Each op
    calls kws_op_mark (a few cycles) so the emulator can time it."""
    gcc = find_tool("arm-none-eabi-gcc")
    gen_dir, out = Path(gen_dir), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cm4 = FIRMWARE_DIR / "cortex_m4"
    cflags = [*M4_FLAGS, *WARN, "-ffunction-sections", "-fdata-sections",
              "-DKWS_PROFILE_OPS", f"-I{RUNTIME}", f"-I{gen_dir}"]
    if portable:
        cflags += ["-DKWS_PORTABLE"]
    srcs = _sources(gen_dir, cm4)
    if harness is not None:
        srcs = [s for s in srcs if Path(s).name != "kws_m4_harness.c"] + [str(harness)]
    # Objects compiled one by one under fixed relative names, then linked in their folder:
    # compiling and linking in one gcc call names the objects /tmp/ccXXXXXX.o, and the link
    # map (which lists every object and the output's path) then differed from one identical
    # build to the next, so build/firmware never had the same hash twice.
    with tempfile.TemporaryDirectory(prefix="kws-m4-") as tmp:
        objs = []
        for i, src in enumerate(srcs):
            objs.append(f"{i:02d}_{Path(src).stem}.o")
            _compile([gcc, *cflags, "-c", src, "-o", str(Path(tmp) / objs[-1])])
        elf, link_map = Path(tmp) / out.name, Path(tmp) / out.with_suffix(".map").name
        _compile([gcc, *M4_FLAGS, *objs, "-T", str(cm4 / "kws_m4.ld"), "-nostartfiles",
                  "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                  f"-Wl,-Map={link_map.name}", "-lm", "-o", elf.name], cwd=tmp)
        shutil.move(link_map, out.with_suffix(".map"))
        shutil.move(elf, out)
    return out


def elf_sizes(elf: str | Path) -> dict:
    """Flash (text + rodata + data init) and static RAM (data + bss) of the ELF, bytes. The
    harness mailbox (.noinit) and the reserved stack are reported apart."""
    from elftools.elf.elffile import ELFFile

    sizes = {}
    with open(elf, "rb") as f:
        for s in ELFFile(f).iter_sections():
            sizes[s.name] = s["sh_size"]
    text = sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0)
    rodata, data, bss = sizes.get(".rodata", 0), sizes.get(".data", 0), sizes.get(".bss", 0)
    return {"text": text, "rodata": rodata, "data": data, "bss": bss,
            "flash_bytes": text + rodata + data, "static_ram_bytes": data + bss,
            "mailbox_bytes": sizes.get(".noinit", 0), "stack_reserved": sizes.get(".stack", 0)}
