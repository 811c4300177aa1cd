"""A Cortex-M4 cycle model: cycles per executed instruction, by instruction class.

The numbers are those of Arm's Cortex-M4 Technical Reference Manual (r0p1, section 3.3,
"Processor instruction timings", and the FPU chapter 7.2), with ``P`` the pipeline refill
after a taken branch (the TRM gives 1..3 depending on the target's alignment and width and on
branch speculation; we charge ``P = 2``):

====================================================  ==========================
class                                                 cycles
====================================================  ==========================
ALU, moves, shifts, extends, SXTB16, SSAT, CLZ, ...   1
MUL, SMULxy, SMLAxy, SMLAD/SMLSD/SMUAD, SMMUL(R),     1
UMULL/SMULL/UMLAL/SMLAL/SMLALD
MLA/MLS                                               2 (*)
SDIV, UDIV                                            2..12 (data dependent): 12 charged
LDR/LDRB/LDRH/LDRSB/LDRSH/STR*, one register          2, but 1 when it directly follows
                                                      another single load/store (pipelined),
                                                      unless its address register is the one
                                                      that load just loaded
LDRD/STRD                                             3
LDM/STM/PUSH/POP, VLDM/VSTM/VPUSH/VPOP                1 + number of registers
B, BL, BX, BLX, CBZ/CBNZ, TBB/TBH (taken)             1 + P  (not taken: 1); TBB/TBH 2 + P
writes to PC (POP {..pc}, LDR pc, MOV pc)             + P
VADD/VSUB/VMUL/VABS/VNEG/VCVT/VCMP/VMOV/VMRS          1
VMLA/VMLS/VFMA/VFMS/VNMLA                             3
VDIV/VSQRT                                            14
VLDR/VSTR                                             2 (1 when pipelined as integer loads)
IT                                                    0 (folded); skipped conditional: 1
====================================================  ==========================

(*) The conservative figure (the Cortex-M3's); the M4's single-cycle MAC may do it in 1. Only
the portable-C kernels use MLA; charging 2 can only make the baseline look slower.

What the model leaves out: wait states of the flash (the nRF52840 has a cache; assumed to hit),
bus contention, interrupts, and the exact 1..3 refill. It is a model of the chip, not a board
measurement. It is checked in tests/test_firmware_timing.py against hand-counted loops.

Why basic blocks: unicorn calls Python once per executed basic block (``UC_HOOK_BLOCK``);
a Python hook per instruction would be ~10x slower. Each block is disassembled once with
capstone and its static cost cached; the only dynamic part, whether the block's final branch
was taken, is read from the address of the next block.
"""

from __future__ import annotations

from dataclasses import dataclass

P_REFILL = 2
DIV_CYCLES = 12

_TWO_CYCLE_MUL = {"mla", "mls"}
_ONE_CYCLE_MUL = {"mul", "muls", "smull", "umull", "smlal", "umlal", "smlad",
                  "smladx", "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx", "smlald",
                  "smlaldx", "smlsld", "smlsldx", "smmul", "smmulr", "smmla", "smmlar", "smmls",
                  "smmlsr", "umaal", "smlawb", "smlawt", "smulwb", "smulwt"}
_LOADSTORE = ("ldr", "str")
_FP_MAC = {"vmla", "vmls", "vfma", "vfms", "vnmla", "vnmls", "vfnma", "vfnms"}
_FP_LONG = {"vdiv", "vsqrt"}
_BRANCHES = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}

# Classes, for the per-class counts in the report.
CLASSES = ("alu", "mul_mac", "div", "load_store", "load_store_multiple", "branch", "fpu",
           "fpu_mac", "fpu_div_sqrt", "other")


@dataclass(frozen=True)
class InsnCost:
    cls: str
    cycles: int           # static cost (not-taken cost for branches)
    is_single_ls: bool    # a single LDR/STR (pipelines with a following one)
    writes_pc: bool       # taken branch or PC write: + P_REFILL when control goes elsewhere


def _base(mnem: str) -> str:
    """Mnemonic without the condition code / width / .F32 suffixes ('ldrb.w' -> 'ldrb')."""
    m = mnem.lower().split(".")[0]
    return m


_COND = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
         "gt", "le", "al")


def _strip_cond(m: str, known: set) -> str:
    if m in known:
        return m
    for c in _COND:
        if m.endswith(c) and m[:-2] in known:
            return m[:-2]
    return m


def classify(insn) -> InsnCost:
    """Cost of one capstone instruction (``CS_OPT_DETAIL`` on)."""
    m = _base(insn.mnemonic)
    op_str = insn.op_str.lower()
    if m.startswith("v"):
        b = m
        for group, cls, cyc in ((_FP_MAC, "fpu_mac", 3), (_FP_LONG, "fpu_div_sqrt", 14)):
            if any(b.startswith(x) for x in group):
                return InsnCost(cls, cyc, False, False)
        if b.startswith(("vldm", "vstm", "vpush", "vpop")):
            n = _reg_count(op_str)
            return InsnCost("load_store_multiple", 1 + n, False, False)
        if b.startswith(("vldr", "vstr")):
            return InsnCost("load_store", 2, True, False)
        return InsnCost("fpu", 1, False, False)
    if m == "it" or m.startswith("it") and len(m) <= 4 and set(m[2:]) <= {"t", "e"}:
        return InsnCost("other", 0, False, False)
    core = _strip_cond(m, _BRANCHES | {"pop", "push", "ldm", "stm", "ldmia", "stmia", "ldmdb",
                                       "stmdb", "ldmfd", "stmfd", "sdiv", "udiv", "ldrd", "strd"}
                       | _ONE_CYCLE_MUL | _TWO_CYCLE_MUL)
    if core in _BRANCHES:
        extra = 1 if core in ("tbb", "tbh") else 0
        return InsnCost("branch", 1 + extra, False, True)
    if core in ("sdiv", "udiv"):
        return InsnCost("div", DIV_CYCLES, False, False)
    if core in _TWO_CYCLE_MUL:
        return InsnCost("mul_mac", 2, False, False)
    if core in _ONE_CYCLE_MUL or core.startswith(("smul", "smla", "smlal")):
        return InsnCost("mul_mac", 1, False, False)
    if core in ("pop", "push", "ldm", "stm", "ldmia", "stmia", "ldmdb", "stmdb", "ldmfd",
                "stmfd"):
        n = _reg_count(op_str)
        return InsnCost("load_store_multiple", 1 + n, False, "pc" in op_str and core != "push")
    if core in ("ldrd", "strd"):
        return InsnCost("load_store", 3, False, False)
    if m.startswith(_LOADSTORE) and not m.startswith(("ldrex", "strex")) or \
            m.startswith(("ldrex", "strex")):
        writes_pc = m.startswith("ldr") and op_str.startswith("pc")
        return InsnCost("load_store", 2, True, writes_pc)
    if op_str.startswith("pc,") or op_str == "pc":
        return InsnCost("alu", 1, False, True)
    if m in ("nop", "bkpt", "dsb", "isb", "dmb", "wfi", "wfe", "sev", "cpsid", "cpsie"):
        return InsnCost("other", 1, False, False)
    return InsnCost("alu", 1, False, False)


def _base_register(op_str: str) -> str | None:
    """The base register of a memory operand ('r2, [r3, #4]' -> 'r3')."""
    if "[" not in op_str:
        return None
    return op_str[op_str.index("[") + 1:].split(",")[0].split("]")[0].strip().lower()


def _reg_count(op_str: str) -> int:
    """Registers in a register list such as '{r4, r5, lr}' or '{s16-s31}' or 'r0!, {r1-r3}'."""
    if "{" not in op_str:
        return 1
    inner = op_str[op_str.index("{") + 1:op_str.index("}")]
    n = 0
    for part in inner.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            n += int(b.strip()[1:]) - int(a.strip()[1:]) + 1
        elif part:
            n += 1
    return n


@dataclass
class BlockCost:
    """Static cost of one basic block, and how its exit is charged."""
    cycles: int
    n_insns: int
    classes: dict
    fallthrough: int       # address after the block's last instruction
    ends_in_branch: bool   # last instruction can send control elsewhere (+ P if it does)


def block_cost(insns: list) -> BlockCost:
    """Sum the static cost of a block's instructions; consecutive single loads/stores
    pipeline (the second and later cost 1 instead of 2)."""
    cycles = 0
    classes: dict = {}
    prev_ls = False
    prev_load_dest = None
    last = None
    for ins in insns:
        c = classify(ins)
        cyc = c.cycles
        base = _base_register(ins.op_str) if c.is_single_ls else None
        # no pipelining when this address needs the data the previous load brings
        if c.is_single_ls and prev_ls and base != prev_load_dest:
            cyc -= 1
        prev_ls = c.is_single_ls
        prev_load_dest = (ins.op_str.split(",")[0].strip().lower()
                          if c.is_single_ls and _base(ins.mnemonic).startswith(("ldr", "vldr"))
                          else None)
        cycles += cyc
        classes[c.cls] = classes.get(c.cls, 0) + 1
        last = (ins, c)
    if last is None:
        return BlockCost(0, 0, {}, 0, False)
    ins, c = last
    return BlockCost(cycles, len(insns), classes, ins.address + ins.size, c.writes_pc)
