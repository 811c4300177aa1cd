"""Run the Cortex-M4 ELF in an instruction-set emulator and time it with the cycle model.

Why unicorn + capstone (both from PyPI) rather than qemu-system-arm with a plugin: they install
with pip on any CI machine (no Debian qemu, no plugin to compile against qemu's headers), and
unicorn's basic-block hook hands Python exactly what the timing model needs. unicorn is QEMU's
Thumb-2/FPU/DSP decoder and executor, so the instruction semantics are QEMU's.

How a run goes: the ELF's loadable segments are mapped (flash at 0, RAM at 0x20000000); the
job is written into the harness's ``kws_mailbox`` (a ``.noinit`` symbol); execution starts at
the reset vector and stops when the harness calls ``kws_mark(KWS_STAGE_DONE)``. Each executed
basic block is charged its cached static cost (``kws.firmware.timing``) plus the pipeline
refill when its final branch was taken, into the stage named by the last ``kws_mark(stage)``.
The stack is painted before the run; its high-water mark is read back after.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.firmware import timing

STAGES = ("startup", "features", "network", "postprocess", "done")
PAINT = 0xA5
FLASH_BASE, FLASH_SIZE = 0x00000000, 1 << 20
RAM_BASE, RAM_SIZE = 0x20000000, 256 << 10
SCS_BASE, SCS_SIZE = 0xE000E000, 0x1000  # system control space (CPACR lives here)
UNTIMED_LIMIT_S = 300  # an untimed run (no cycle model) that takes longer ran away


class EmulatorError(KwsError):
    """The firmware faulted or ran away in the emulator."""


@dataclass
class ElfImage:
    segments: list            # (address, bytes)
    symbols: dict             # name -> (address, size)
    entry: int
    sections: dict            # name -> (address, size)


def read_elf(path: str | Path) -> ElfImage:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        segs = [(seg["p_paddr"], seg.data()) for seg in elf.iter_segments()
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0]
        syms = {}
        symtab = elf.get_section_by_name(".symtab")
        for s in symtab.iter_symbols():
            if s.name:
                syms[s.name] = (s["st_value"], s["st_size"])
        secs = {s.name: (s["sh_addr"], s["sh_size"]) for s in elf.iter_sections() if s.name}
        return ElfImage(segs, syms, elf.header["e_entry"], secs)


@dataclass
class RunResult:
    cycles: dict                 # stage -> cycles
    instructions: dict           # stage -> instructions
    classes: dict                # stage -> {class: count}
    mailbox: bytes
    stack_bytes: int             # high-water mark of the stack
    functions: dict = field(default_factory=dict)  # function -> cycles (profile=True)
    op_cycles: dict = field(default_factory=dict)  # op index -> cycles (kws_op_mark)


@dataclass
class Emulator:
    """One loaded ELF; ``run`` can be called for many jobs."""
    elf_path: str | Path
    max_instructions: int = 400_000_000
    image: ElfImage = field(init=False)

    def __post_init__(self):
        self.image = read_elf(self.elf_path)
        for name in ("kws_mailbox", "kws_mark", "_sstack", "_estack"):
            if name not in self.image.symbols:
                raise EmulatorError(f"{self.elf_path}: symbol {name} missing: not a kws harness ELF")
        self._blocks: dict = {}
        from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs

        self._cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)

    def symbol(self, name: str) -> tuple[int, int]:
        return self.image.symbols[name]

    def _cost(self, uc, addr: int, size: int) -> timing.BlockCost:
        key = (addr, size)
        bc = self._blocks.get(key)
        if bc is None:
            code = bytes(uc.mem_read(addr, size))
            insns = list(self._cs.disasm(code, addr))
            bc = timing.block_cost(insns)
            self._blocks[key] = bc
        return bc

    def _function_of(self, addr: int) -> str:
        import bisect

        if not hasattr(self, "_funcs"):
            funcs = sorted((a & ~1, n) for n, (a, sz) in self.image.symbols.items()
                           if sz and a < FLASH_SIZE and not n.startswith("$"))
            self._funcs = ([a for a, _ in funcs], [n for _, n in funcs])
        i = bisect.bisect_right(self._funcs[0], addr) - 1
        return self._funcs[1][i] if i >= 0 else "?"

    def run(self, mailbox: bytes, profile: bool = False, timed: bool = True) -> RunResult:
        """One run from reset to ``kws_mark(KWS_STAGE_DONE)``. ``timed=False`` leaves the
        cycle model out (no per-block hook: unicorn at full speed; cycles read 0), for runs
        that only need the results."""
        from unicorn import (UC_ARCH_ARM, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_MODE_MCLASS,
                             UC_MODE_THUMB, Uc, UcError)
        from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_SP

        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        try:
            from unicorn.arm_const import UC_CPU_ARM_CORTEX_M4
            uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
        except (ImportError, AttributeError):
            pass
        uc.mem_map(FLASH_BASE, FLASH_SIZE)
        uc.mem_map(RAM_BASE, RAM_SIZE)
        uc.mem_map(SCS_BASE, SCS_SIZE)  # plain memory: CPACR writes land here
        for addr, data in self.image.segments:
            uc.mem_write(addr, data)
        s_lo, _ = self.symbol("_sstack")
        s_hi, _ = self.symbol("_estack")
        uc.mem_write(s_lo, bytes([PAINT]) * (s_hi - s_lo))
        mb_addr, mb_size = self.symbol("kws_mailbox")
        if len(mailbox) > mb_size:
            raise EmulatorError(f"mailbox of {len(mailbox)} bytes exceeds kws_mailbox ({mb_size})")
        uc.mem_write(mb_addr, mailbox)

        cycles = {s: 0 for s in STAGES}
        insns = {s: 0 for s in STAGES}
        classes = {s: {} for s in STAGES}
        state = {"stage": "startup", "prev": None, "op": -1}
        funcs: dict = {}
        ops: dict = {}
        mark_addr = self.symbol("kws_mark")[0] & ~1
        op_mark = self.image.symbols.get("kws_op_mark")

        def on_block(uc_, addr, size, _):
            stage = state["stage"]
            prev = state["prev"]
            bc = self._cost(uc_, addr, size)
            c = bc.cycles
            if prev is not None and prev.ends_in_branch and addr != prev.fallthrough:
                c += timing.P_REFILL
            cycles[stage] += c
            if state["op"] >= 0:
                ops[state["op"]] = ops.get(state["op"], 0) + c
            if profile:
                f = self._function_of(addr)
                funcs[f] = funcs.get(f, 0) + bc.cycles
            insns[stage] += bc.n_insns
            cl = classes[stage]
            for k, v in bc.classes.items():
                cl[k] = cl.get(k, 0) + v
            state["prev"] = bc

        def on_mark(uc_, addr, size, _):
            code = uc_.reg_read(UC_ARM_REG_R0)
            state["stage"] = STAGES[code] if 0 <= code < len(STAGES) else "startup"
            if code == 4:
                uc_.emu_stop()

        def on_op(uc_, addr, size, _):
            op = uc_.reg_read(UC_ARM_REG_R0)
            state["op"] = op if op < 0x80000000 else -1

        if timed:
            uc.hook_add(UC_HOOK_BLOCK, on_block)
        uc.hook_add(UC_HOOK_CODE, on_mark, begin=mark_addr, end=mark_addr)
        if op_mark is not None and timed:
            a = op_mark[0] & ~1
            uc.hook_add(UC_HOOK_CODE, on_op, begin=a, end=a)
        sp, reset = struct.unpack("<II", bytes(uc.mem_read(0, 8)))
        uc.reg_write(UC_ARM_REG_SP, sp)
        try:
            if timed:
                uc.emu_start(reset | 1, FLASH_BASE + FLASH_SIZE, count=self.max_instructions)
            else:  # an instruction count would add a hook on every instruction: a time limit
                uc.emu_start(reset | 1, FLASH_BASE + FLASH_SIZE, timeout=UNTIMED_LIMIT_S * 1_000_000)
        except UcError as err:
            pc = uc.reg_read(UC_ARM_REG_PC)
            raise EmulatorError(f"the firmware faulted in the emulator at pc=0x{pc:08x}: {err}") \
                from None
        if state["stage"] != "done":
            pc = uc.reg_read(UC_ARM_REG_PC)
            limit = (f"{self.max_instructions} instructions" if timed
                     else f"{UNTIMED_LIMIT_S} s of emulation")
            raise EmulatorError(f"the firmware did not finish within {limit} "
                                f"(stage {state['stage']}, pc=0x{pc:08x})")
        stack = bytes(uc.mem_read(s_lo, s_hi - s_lo))
        untouched = len(stack) - len(stack.lstrip(bytes([PAINT])))
        out = bytes(uc.mem_read(mb_addr, mb_size))
        return RunResult(cycles, insns, classes, out, (s_hi - s_lo) - untouched, funcs, ops)


@dataclass
class Job:
    """What one emulated run computed."""
    features: np.ndarray | None   # model input (mode 0: computed from the audio)
    logits: np.ndarray            # network output (int8; float32 for a float-output model)
    label: int                    # post-processing's top label (-1: too few results)
    score: float
    cycles: dict
    instructions: dict
    classes: dict
    stack_bytes: int
    op_cycles: dict = field(default_factory=dict)   # op index -> cycles


class Harness(Emulator):
    """The kws harness ELF (firmware/cortex_m4/kws_m4_harness.c): audio or features in,
    features, logits and the post-processing result out, cycles per stage."""

    def __post_init__(self):
        super().__post_init__()
        addr, _ = self.symbol("kws_mailbox_layout")
        for seg_addr, data in self.image.segments:
            if seg_addr <= addr < seg_addr + len(data):
                self.layout = struct.unpack_from("<12I", data, addr - seg_addr)
                break
        else:
            raise EmulatorError(f"{self.elf_path}: kws_mailbox_layout not in a loaded segment")
        (self.o_mode, self.o_audio, self.o_feat, self.o_logits, self.o_label, self.o_score,
         self.o_new, self.n_audio, self.n_feat, self.n_logits, in_bytes, out_bytes) = self.layout
        self.in_dtype = np.dtype(np.float32 if in_bytes == 4 else np.int8)
        self.out_dtype = np.dtype(np.float32 if out_bytes == 4 else np.int8)

    def _job(self, mode: int, audio=None, features=None) -> Job:
        mb = bytearray(self.symbol("kws_mailbox")[1])
        struct.pack_into("<I", mb, self.o_mode, mode)
        if audio is not None:
            a = np.asarray(audio, np.int16).reshape(-1)
            if len(a) != self.n_audio:
                raise EmulatorError(f"audio has {len(a)} samples; the firmware takes {self.n_audio}")
            mb[self.o_audio:self.o_audio + 2 * len(a)] = a.astype("<i2").tobytes()
        if features is not None:
            f = np.asarray(features).astype(self.in_dtype).reshape(-1)
            if len(f) != self.n_feat:
                raise EmulatorError(f"features have {len(f)} values; the model takes {self.n_feat}")
            mb[self.o_feat:self.o_feat + f.nbytes] = f.tobytes()
        r = self.run(bytes(mb))
        out = r.mailbox
        nf, nl = self.n_feat * self.in_dtype.itemsize, self.n_logits * self.out_dtype.itemsize
        feats = np.frombuffer(out[self.o_feat:self.o_feat + nf], self.in_dtype).copy()
        logits = np.frombuffer(out[self.o_logits:self.o_logits + nl], self.out_dtype).copy()
        label = struct.unpack_from("<i", out, self.o_label)[0]
        score = struct.unpack_from("<f", out, self.o_score)[0]
        return Job(feats if mode == 0 else None, logits, label, score, r.cycles, r.instructions,
                   r.classes, r.stack_bytes, r.op_cycles)

    def run_audio(self, audio_int16) -> Job:
        """Features, network and post-processing on one clip of int16 samples."""
        return self._job(0, audio=audio_int16)

    def run_features(self, features_int8) -> Job:
        """The network (and post-processing) on already-quantized features."""
        return self._job(1, features=features_int8)

    # --- streaming (mode 2: firmware/runtime/kws_stream.c) -----------------------------------
    def _stream_layout(self) -> tuple:
        if not hasattr(self, "_slayout"):
            if "kws_stream_layout" not in self.image.symbols:
                raise EmulatorError(f"{self.elf_path}: no kws_stream_layout: not a streaming harness")
            addr, _ = self.symbol("kws_stream_layout")
            for seg_addr, data in self.image.segments:
                if seg_addr <= addr < seg_addr + len(data):
                    self._slayout = struct.unpack_from("<10I", data, addr - seg_addr)
                    break
            if self._slayout[8] == 0:
                raise EmulatorError("this model's firmware has no stream module (int8 features "
                                    "that fill the model input and int8 scores are needed)")
        return self._slayout

    @property
    def stream_state_bytes(self) -> int:
        """sizeof(kws_stream_t): the streaming state's RAM on the board."""
        return int(self._stream_layout()[8])

    def run_stream(self, audio_int16, threshold: float, chunk: int | None = None,
                   timed_tail: int = 0):
        """``audio_int16`` through the streaming recognizer from a fresh state, ``chunk``
        samples per emulator run (at most the harness's audio buffer), the state carried from
        run to run in the mailbox. The last ``timed_tail`` samples run apart, under the cycle
        model (at most one chunk). Returns (records, timed): records as a structured array
        (time_ms, label, score, is_new, scores) of every inference, timed as (inferences in the
        tail, RunResult of the tail) or None."""
        (o_reset, o_samples, o_thr, o_nres, o_rec, o_state, rec_size, rec_cap, state_size,
         o_scores) = self._stream_layout()
        a = np.asarray(audio_int16, np.int16).reshape(-1)
        chunk = self.n_audio if chunk is None else int(chunk)
        if not 0 < chunk <= self.n_audio or not 0 <= timed_tail <= min(chunk, len(a)):
            raise EmulatorError(f"chunk must be 1..{self.n_audio} samples and the timed tail "
                                f"at most one chunk (got {chunk}, {timed_tail})")
        rec = np.dtype({"names": ["time_ms", "label", "score", "is_new", "input_hash", "scores"],
                        "formats": ["<i4", "<i4", "<f4", "<i4", "<u4", ("i1", (self.n_logits,))],
                        "offsets": [0, 4, 8, 12, 16, o_scores], "itemsize": rec_size})
        mb = bytearray(self.symbol("kws_mailbox")[1])
        struct.pack_into("<I", mb, self.o_mode, 2)
        struct.pack_into("<f", mb, o_thr, float(threshold))
        body = len(a) - timed_tail
        parts = [(s, min(s + chunk, body), False) for s in range(0, body, chunk)]
        if timed_tail:
            parts.append((body, len(a), True))
        out, timed = [], None
        for k, (lo, hi, is_timed) in enumerate(parts):
            struct.pack_into("<I", mb, o_reset, 1 if k == 0 else 0)
            struct.pack_into("<I", mb, o_samples, hi - lo)
            mb[self.o_audio:self.o_audio + 2 * (hi - lo)] = a[lo:hi].astype("<i2").tobytes()
            r = self.run(bytes(mb), timed=is_timed)
            mb = bytearray(r.mailbox)
            n = struct.unpack_from("<I", mb, o_nres)[0]
            if n > rec_cap:
                raise EmulatorError(f"the harness reported {n} results (capacity {rec_cap})")
            out.append(np.frombuffer(bytes(mb[o_rec:o_rec + n * rec_size]), rec).copy())
            if is_timed:
                timed = (int(n), r)
        records = np.concatenate(out) if out else np.zeros(0, rec)
        return records, timed
