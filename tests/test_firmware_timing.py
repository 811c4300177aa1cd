"""The Cortex-M4 timing model (kws/firmware/timing.py) against cycle counts worked out by hand
from Arm's Cortex-M4 TRM tables, on tiny programs assembled here with arm-none-eabi-as.

P (pipeline refill of a taken branch) is 2 in the model; every expected figure below is
written out as its sum so it can be checked against the TRM by eye."""

import shutil
import subprocess

import pytest

from kws.errors import ToolMissingError
from kws.firmware import timing
from kws.firmware.emulator import Emulator, read_elf
from kws.firmware.toolchain import FIRMWARE_DIR, find_tool

P = timing.P_REFILL
HEADER = """
.syntax unified
.cpu cortex-m4
.fpu fpv4-sp-d16
.thumb
.section .isr_vector,"a"
.word _estack
.word Reset_Handler + 1
.section .noinit,"aw",%nobits
.global kws_mailbox
kws_mailbox: .space 16
.text
.thumb_func
.global kws_mark
kws_mark:
    bx lr
"""


def _build(tmp_path, body: str):
    src = tmp_path / "t.s"
    src.write_text(HEADER + body)
    elf = tmp_path / "t.elf"
    subprocess.run([find_tool("arm-none-eabi-gcc"), "-mcpu=cortex-m4", "-mthumb", "-nostdlib",
                    "-T", str(FIRMWARE_DIR / "cortex_m4" / "kws_m4.ld"), str(src), "-o",
                    str(elf)], check=True, capture_output=True)
    return elf


def test_counted_loop_in_the_emulator(tmp_path):
    elf = _build(tmp_path, """
.thumb_func
.global Reset_Handler
Reset_Handler:
    movs r0, #1
    bl kws_mark          @ from here on: stage "features"
    movs r1, #10
loop:
    subs r1, #1
    bne loop
    movs r0, #4
    bl kws_mark          @ stage "done": stops
    b .
""")
    r = Emulator(elf).run(b"")
    # after the first kws_mark returns (bx lr taken: refill P):
    #   movs, subs, bne (taken)        3 + P (return)
    #   9 x [subs, bne]: 2 each, entered by a taken bne (+P), the last bne falls through
    #   movs, bl                        2, bl taken: +P into kws_mark, whose bx lr: 1
    expected = (3 + P) + 9 * (2 + P) + 2 + P + 1
    assert expected == 46
    assert r.cycles["features"] == expected
    assert r.instructions["features"] == 3 + 9 * 2 + 2 + 1


BLOCKS = {
    # name: (code, hand count)
    "pipelined_loads": ("ldr r2, [r3]\n ldr r4, [r3, #4]\n str r2, [r3, #8]", 2 + 1 + 1),
    "split_loads": ("ldr r2, [r3]\n adds r2, #1\n ldr r4, [r3, #4]", 2 + 1 + 2),
    "dependent_loads": ("ldr r2, [r3]\n ldr r4, [r2, #4]\n ldr r5, [r3, #8]", 2 + 2 + 1),
    "dsp": ("smlad r0, r1, r2, r0\n sxtb16 r1, r2, ror #8\n smmulr r0, r1, r2\n"
            " ssat r0, #8, r0", 1 + 1 + 1 + 1),
    "mla_div": ("mla r0, r1, r2, r0\n sdiv r0, r1, r2", 2 + timing.DIV_CYCLES),
    "fpu": ("vmla.f32 s0, s1, s2\n vadd.f32 s0, s0, s1\n vdiv.f32 s0, s1, s2\n vldr s0, [r0]",
            3 + 1 + 14 + 2),
    "multiple": ("push {r4-r7, lr}\n ldrd r0, r1, [r2]\n ldm r0!, {r1, r2, r3}",
                 (1 + 5) + 3 + (1 + 3)),
    "pop_pc": ("pop {r4, pc}", 1 + 2),
}


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blocks")
    body = ".thumb_func\n.global Reset_Handler\nReset_Handler:\n    b .\n"
    for name, (code, _) in BLOCKS.items():
        body += f".global {name}\n.global {name}_end\n{name}:\n {code}\n{name}_end:\n"
    elf = _build(tmp, body)
    img = read_elf(elf)
    from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs

    cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
    flash = dict(img.segments)[0]
    out = {}
    for name in BLOCKS:
        a, b = img.symbols[name][0], img.symbols[name + "_end"][0]
        out[name] = timing.block_cost(list(cs.disasm(flash[a:b], a)))
    return out


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_cost_matches_hand_count(blocks, name):
    assert blocks[name].cycles == BLOCKS[name][1]


def test_pc_writes_end_blocks_with_a_refill(blocks):
    assert blocks["pop_pc"].ends_in_branch
    assert not blocks["dsp"].ends_in_branch


def test_missing_cross_compiler_names_the_apt_line(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="apt-get install -y gcc-arm-none-eabi"):
        find_tool("arm-none-eabi-gcc")
