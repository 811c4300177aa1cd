"""Speech Commands: the hash split, the v0.02 download, safe extraction, and any folder in its layout.

The layout every ``data.source`` ends in (``data/raw``)::

    <word>/<speaker>_nohash_<n>.wav     16 kHz, 16-bit, mono, at most 1 s
    _background_noise_/*.wav            long 16 kHz noise recordings (optional)
    validation_list.txt, testing_list.txt   "<word>/<file>.wav" per line; the rest is train

The split is TF's ``input_data.which_set``: a hash of the file name with ``_nohash_...``
removed, so all clips of a speaker land in the same split, and a clip keeps its split when
the data set grows.
"""

from __future__ import annotations

import bz2
import errno
import glob
import gzip
import hashlib
import http.client
import lzma
import os
import re
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

from kws.audio import read_wav
from kws.errors import AudioError, DataError

MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, as in TF's input_data.py
BACKGROUND_NOISE_DIR = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
SPLITS = ("train", "validation", "test")
# which_set's names (TF) -> the names used in this project's files and metrics.
SPLIT_OF_SET = {"training": "train", "validation": "validation", "testing": "test"}
CLIP_NAME = re.compile(r"(?P<speaker>.+?)_nohash_(?P<n>\d+)\.wav")


# --- the hash split ---------------------------------------------------------------------------
def which_set(filename: str, validation_percentage: float, testing_percentage: float) -> str:
    """``'training'``, ``'validation'`` or ``'testing'``, exactly as TF's ``input_data.which_set``.

    Only the base name counts, with everything from ``_nohash_`` on removed: the clips of one
    speaker share a split.
    """
    base_name = os.path.basename(filename)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage_hash = ((int(hash_name_hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1))
                       * (100.0 / MAX_NUM_WAVS_PER_CLASS))
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def speaker_of(filename: str) -> str:
    """The speaker part of ``<speaker>_nohash_<n>.wav`` (the whole stem for other names)."""
    return re.sub(r"_nohash_.*$", "", os.path.basename(filename))


# --- the layout -------------------------------------------------------------------------------
def list_clips(root: str | Path) -> list[str]:
    """``<word>/<file>.wav`` of every clip under ``root`` (sorted; background noise excluded)."""
    root = Path(root)
    clips = []
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if word_dir.name.startswith((".", "_")):
            continue
        clips += [f"{word_dir.name}/{f.name}" for f in sorted(word_dir.iterdir())
                  if f.is_file() and f.name.endswith(".wav") and not f.name.startswith(".")]
    return clips


def read_list(path: str | Path) -> list[str]:
    """The ``<word>/<file>.wav`` entries of a split list (blank lines and ``./`` ignored)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip().removeprefix("./")
        if line:
            out.append(line)
    return out


def _write_list(path: Path, entries: Iterable[str]) -> None:
    path.write_text("".join(f"{e}\n" for e in sorted(entries)))


def compute_split_lists(clips: Iterable[str], validation_percentage: float,
                        testing_percentage: float) -> tuple[list[str], list[str]]:
    """(validation, testing) entries of ``clips`` by ``which_set``."""
    val, test = [], []
    for c in clips:
        s = which_set(c, validation_percentage, testing_percentage)
        if s == "validation":
            val.append(c)
        elif s == "testing":
            test.append(c)
    return sorted(val), sorted(test)


def ensure_split_lists(root: str | Path, validation_percentage: float,
                       testing_percentage: float) -> dict[str, str]:
    """Write ``validation_list.txt`` / ``testing_list.txt`` in ``root`` where missing.

    A missing list is computed with ``which_set`` over the clips not in the other list.
    Returns where each list came from (``"given"`` or ``"which_set"``).
    """
    root = Path(root)
    clips = list_clips(root)
    val, test = compute_split_lists(clips, validation_percentage, testing_percentage)
    origin = {}
    for name, computed, other in ((VALIDATION_LIST, val, TESTING_LIST),
                                  (TESTING_LIST, test, VALIDATION_LIST)):
        path = root / name
        if path.exists():
            origin[name] = "given"
            continue
        taken = set(read_list(root / other)) if (root / other).exists() else set()
        _write_list(path, (c for c in computed if c not in taken))
        origin[name] = "which_set"
    return origin


def summarize(root: str | Path) -> dict:
    """Clips per word per split, speakers per split, background noise files, of a raw folder."""
    root = Path(root)
    clips = list_clips(root)
    val = set(read_list(root / VALIDATION_LIST)) if (root / VALIDATION_LIST).exists() else set()
    test = set(read_list(root / TESTING_LIST)) if (root / TESTING_LIST).exists() else set()
    present = set(clips)
    per_word: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    speakers: dict[str, set] = {s: set() for s in SPLITS}
    for c in clips:
        split = "validation" if c in val else "test" if c in test else "train"
        per_word[c.split("/")[0]][split] += 1
        speakers[split].add(speaker_of(c))
    bg = root / BACKGROUND_NOISE_DIR
    noise = sorted(f.name for f in bg.iterdir() if f.suffix == ".wav") if bg.is_dir() else []
    shared = (speakers["train"] & speakers["validation"]) | (speakers["train"] & speakers["test"]) \
        | (speakers["validation"] & speakers["test"])
    return {
        "clips": {**{s: sum(w[s] for w in per_word.values()) for s in SPLITS}, "total": len(clips)},
        "clips_per_word": {w: per_word[w] for w in sorted(per_word)},
        "words": len(per_word),
        "speakers": {s: len(speakers[s]) for s in SPLITS},
        "speakers_in_more_than_one_split": len(shared),
        "background_noise_files": len(noise),
        "background_noise": noise,
        "list_entries_without_a_clip": {"validation": len(val - present),
                                        "test": len(test - present)},
    }


def check_data_set(summary: dict, data, params: str = "params.yaml") -> list[str]:
    """Refuse, in the download stage, a data set that would only fail stages later; return
    the warnings.

    ``summary``: ``summarize``'s counts (no audio decoded, so cheap on any size); ``data``: the
    ``data:`` params; ``params``: the file they came from, for the messages. ``DataError``: an
    empty split; a word of ``data.words`` with no training clip; no training clip of another
    word while ``data.unknown_percentage`` > 0; no background noise file while
    ``data.silence_percentage`` > 0. Warnings: a word, or the other words, missing from
    validation or test only (that split then cannot measure it); split-list entries that name
    no clip.
    """
    per_word, total = summary["clips_per_word"], summary["clips"]

    def counts(c: dict) -> str:
        return ", ".join(f"{s} {c[s]}" for s in SPLITS)

    empty = [s for s in SPLITS if total[s] == 0]
    if empty:
        raise DataError(f"data.source: {data.source} in {params} gives an empty "
                        f"{' and '.join(empty)} split ({counts(total)} clips); every split needs "
                        "clips: check the split lists it came with, or data.validation_percentage "
                        f"/ data.testing_percentage in {params} when they are computed")
    none = dict.fromkeys(SPLITS, 0)
    words = {w: per_word.get(w, none) for w in data.words}
    untrained = [w for w, c in words.items() if c["train"] == 0]
    if untrained:
        raise DataError(f"data.words in {params} has no training clips of "
                        + "; ".join(f"'{w}' ({counts(words[w])})" for w in untrained)
                        + ": remove them from data.words or add their clips to data.source: "
                        f"{data.source}")
    others = dict.fromkeys(SPLITS, 0)
    for w, c in per_word.items():
        if w not in words:
            for s in SPLITS:
                others[s] += c[s]
    if data.unknown_percentage > 0 and others["train"] == 0:
        raise DataError(f"data.unknown_percentage is {data.unknown_percentage:g} in {params} but "
                        f"data.source: {data.source} has no training clips of words outside "
                        "data.words to be _unknown_ examples: add such words or set "
                        "data.unknown_percentage: 0")
    if data.silence_percentage > 0 and summary["background_noise_files"] == 0:
        raise DataError(f"data.silence_percentage is {data.silence_percentage:g} in {params} but "
                        f"data.source: {data.source} has no {BACKGROUND_NOISE_DIR}/*.wav for the "
                        "_silence_ examples: add noise recordings or set "
                        "data.silence_percentage: 0")
    warnings = []
    for s in ("validation", "test"):
        missing = [w for w, c in words.items() if c[s] == 0]
        if missing:
            warnings.append(f"no {s} clips of data.words {missing}: the {s} split cannot "
                            "measure them")
        if data.unknown_percentage > 0 and others[s] == 0:
            warnings.append(f"no {s} clips of words outside data.words: the {s} split has no "
                            "_unknown_ examples")
    for s, n in summary.get("list_entries_without_a_clip", {}).items():
        if n:
            name = VALIDATION_LIST if s == "validation" else TESTING_LIST
            warnings.append(f"{name} names {n} clip(s) the data set lacks")
    return warnings


# --- skipping bad files -----------------------------------------------------------------------
class Skipped:
    """Files left out of a data set, each with its reason (reported in the stage metrics)."""

    MAX_LISTED = 100

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        self.files.append((path, reason))

    def __len__(self) -> int:
        return len(self.files)

    @staticmethod
    def category(reason: str) -> str:
        """The reason without file-specific detail: 'truncated wav (header says ...' -> 'truncated wav'."""
        return re.split(r" \(|;", reason, maxsplit=1)[0].strip()

    def to_dict(self) -> dict:
        return {
            "count": len(self.files),
            "by_reason": dict(sorted(Counter(self.category(r) for _, r in self.files).items())),
            "files": [{"file": f, "reason": r} for f, r in self.files[: self.MAX_LISTED]],
            "files_not_listed": max(0, len(self.files) - self.MAX_LISTED),
        }


def _audio_reason(err: AudioError, path: Path) -> str:
    msg = str(err)
    return msg.removeprefix(f"{path}: ")


def _link_or_copy(src: Path, dst: Path) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return "hardlink"
    except OSError:
        shutil.copyfile(src, dst)
        return "copy"


# --- data.source: folder ----------------------------------------------------------------------
def import_folder(src: str | Path, dest: str | Path, validation_percentage: float,
                  testing_percentage: float, sample_rate: int = 16000) -> dict:
    """Copy (hardlink when possible) the valid clips of a Speech Commands-layout folder to ``dest``.

    Every wav is checked with ``kws.audio.read_wav``; a bad one (unreadable, truncated, wrong
    rate, not mono, badly named) is skipped and counted with its reason. The folder's split
    lists are kept (restricted to the clips copied); missing ones are computed with
    ``which_set``. Raises ``DataError`` if the folder is missing or holds no valid clip.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise DataError(f"data.folder = '{src}': no such directory; point it at a folder in Speech "
                        "Commands layout (<word>/<speaker>_nohash_<n>.wav)")
    dest.mkdir(parents=True, exist_ok=True)
    skipped = Skipped()
    copied: list[str] = []
    noise: list[str] = []
    how = Counter()
    for sub in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        is_noise = sub.name == BACKGROUND_NOISE_DIR
        if sub.name.startswith("_") and not is_noise:
            continue
        for f in sorted(sub.iterdir()):
            if f.name.startswith("."):
                continue
            rel = f"{sub.name}/{f.name}"
            if not f.is_file() or f.suffix.lower() != ".wav":
                skipped.add(rel, "not a .wav file")
                continue
            if not is_noise and not CLIP_NAME.fullmatch(f.name):
                skipped.add(rel, "name is not <speaker>_nohash_<n>.wav")
                continue
            try:
                read_wav(f, sample_rate)
            except AudioError as err:
                skipped.add(rel, _audio_reason(err, f))
                continue
            how[_link_or_copy(f, dest / rel)] += 1
            (noise if is_noise else copied).append(rel)
    if not copied:
        raise DataError(f"data.folder = '{src}': no valid clip found ({len(skipped)} skipped); it "
                        "needs <word>/<speaker>_nohash_<n>.wav files, 16 kHz 16-bit mono")
    present = set(copied)
    lists = {}
    for name in (VALIDATION_LIST, TESTING_LIST):
        if (src / name).is_file():
            given = read_list(src / name)
            _write_list(dest / name, (e for e in given if e in present))
            lists[name] = {"origin": "given", "entries_without_a_clip": len(given) - sum(
                e in present for e in given)}
    origin = ensure_split_lists(dest, validation_percentage, testing_percentage)
    for name, o in origin.items():
        lists.setdefault(name, {"origin": o})
    return {"clips_copied": len(copied), "background_noise_copied": len(noise),
            "transfer": dict(how), "lists": lists, "skipped": skipped.to_dict()}


# --- data.source: speech_commands (download) -------------------------------------------------
def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _offline_error(url: str, reason, cache_dir: Path) -> DataError:
    return DataError(f"cannot reach {url} ({reason}); offline? Use data.source: synthetic (offline "
                     "TTS data) or data.source: folder with data.folder set to an extracted Speech "
                     f"Commands copy, or put the archive in {cache_dir}/")


MISMATCH_SUFFIX = ".sha256-mismatch"


def _mismatch_error(what: str, kept: Path, actual: str, expected: str, params: str) -> DataError:
    return DataError(f"checksum mismatch: {what} has sha256 {actual}, data.sha256 in {params} is "
                     f"{expected}; kept as {kept}. If data.sha256 is wrong, set it to the "
                     "published hash and run again (the kept file is used if it matches); if it "
                     f"is right, the file is damaged: delete {kept} and run again to download it")


def download(url: str, sha256: str, cache_dir: str | Path = "data/cache", *, timeout: float = 30.0,
             chunk: int = 1 << 20, progress: bool = True, params: str = "params.yaml") -> Path:
    """Download ``url`` into ``cache_dir`` and return the verified archive's path.

    Resumable: bytes arrive in ``<name>.part`` and a later call continues it with an HTTP Range
    request (a server that ignores Range restarts it). The finished file is checked against
    ``sha256`` before it gets its final name. A file that fails the check, downloaded or already
    in the cache, is never deleted: a typo in ``data.sha256`` must not cost a good 2.3 GB
    archive. It is renamed ``<name>.<its hash, 12 digits>.sha256-mismatch`` and ``DataError``
    gives both hashes; once ``sha256`` names its hash it becomes the archive again, and while
    one is kept and nothing matches, nothing is downloaded. ``params``: the params file, named
    in the messages.
    """
    from tqdm import tqdm

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name or "download"
    final = cache_dir / name
    part = cache_dir / f"{name}.part"
    expected = sha256.strip().lower()

    def keep(path: Path, actual: str) -> Path:
        kept = cache_dir / f"{name}.{actual[:12]}{MISMATCH_SUFFIX}"  # same name: same bytes
        os.replace(path, kept)
        return kept

    if final.exists():
        actual = sha256_file(final)
        if actual == expected:
            return final
        raise _mismatch_error(str(final), keep(final, actual), actual, expected, params)
    match = cache_dir / f"{name}.{expected[:12]}{MISMATCH_SUFFIX}"
    if match.exists() and sha256_file(match) == expected:  # data.sha256 was corrected
        os.replace(match, final)
        return final
    earlier = sorted(cache_dir.glob(f"{glob.escape(name)}.*{MISMATCH_SUFFIX}"),
                     key=lambda p: p.stat().st_mtime)
    if earlier:
        kept = earlier[-1]
        raise _mismatch_error("the file kept from an earlier run", kept, sha256_file(kept),
                              expected, params)

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "kws-mcu"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the .part is (at least) complete
            resp = None
        else:
            raise DataError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
        raise _offline_error(url, getattr(err, "reason", err), cache_dir) from None

    if resp is not None:
        with resp:
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            mode = "wb"
            if have and resp.status == 206:
                m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                if m and int(m.group(1)) == have:
                    mode = "ab"
            if mode == "wb":
                have = 0  # the server sent the whole file: start over
            total = have + length if length is not None else None
            got = have
            try:
                with open(part, mode) as f, tqdm(total=total, initial=have, unit="B",
                                                 unit_scale=True, unit_divisor=1024,
                                                 desc=f"download {name}", disable=not progress) as bar:
                    while block := resp.read(chunk):
                        f.write(block)
                        got += len(block)
                        bar.update(len(block))
            except (OSError, http.client.HTTPException) as err:
                raise DataError(f"download of {url} interrupted at {got} bytes ({err}); run again "
                                f"to resume from {part}") from None
            if total is not None and got < total:
                raise DataError(f"download of {url} interrupted at {got} of {total} bytes; run "
                                f"again to resume from {part}")

    actual = sha256_file(part)
    if actual != expected:
        raise _mismatch_error(f"the download of {url}", keep(part, actual), actual, expected,
                              params)
    os.replace(part, final)
    return final


# --- safe extraction --------------------------------------------------------------------------
def _member_path(name: str) -> Optional[PurePosixPath]:
    """The member's path relative to the archive root, or None for the root itself."""
    p = PurePosixPath(name)
    parts = [x for x in p.parts if x not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _unsafe(name: str) -> Optional[str]:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path with '..'"
    return None


def _within(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


class ArchiveError(DataError):
    """The archive itself is unsafe, corrupt or truncated: it must not be used again as is."""


class _Decompressed:
    """The archive's tar bytes, decompressed by magic (gzip, bzip2, xz, or none), read to the
    end by ``drain`` so the compressor's own checks run: gzip CRC-32 and length, bzip2 block
    CRCs, xz check. tarfile's stream mode skips the gzip ones. Any read failure is an
    ``ArchiveError``; write failures stay ``OSError``, so a full disk never condemns the file."""

    _KINDS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw = open(path, "rb")
        head = self.raw.read(6)
        self.raw.seek(0)
        self.kind = next((k for magic, k in self._KINDS if head.startswith(magic)), "tar")
        self.f = {"gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"), "bzip2": bz2.BZ2File,
                  "xz": lzma.LZMAFile, "tar": lambda f: f}[self.kind](self.raw)

    def read(self, n: int = -1) -> bytes:
        try:
            return self.f.read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
            raise ArchiveError(f"{self.path}: corrupt or truncated archive ({self.kind}: "
                               f"{err or type(err).__name__}); nothing was extracted") from None

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self.f.close()
        self.raw.close()


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO}


class _TarInfo(tarfile.TarInfo):
    """Remembers why the member list ended: tarfile takes a bad, short or missing header after
    the first member for the end of the archive; only a zero block is a real end."""

    @classmethod
    def fromtarfile(cls, tar):
        try:
            return super().fromtarfile(tar)
        except tarfile.HeaderError as err:
            tar.end_reason = err
            raise


def extract_archive(archive: str | Path, dest: str | Path) -> int:
    """Extract a tar archive (gzip, bzip2, xz or none) into ``dest``, refusing unsafe members
    and archives that are not whole.

    Refused, with nothing extracted (``ArchiveError``): absolute paths, ``..`` components,
    symlinks or hardlinks that point outside the tree, devices, FIFOs; a compressed stream that
    fails its CRC/length check or ends early; a tar that ends without its zero-block end marker
    (cut at a member boundary, or a damaged header, which tarfile alone takes for the end); a
    tree whose files differ from the members listed. Members go into a temporary directory
    beside ``dest`` that is renamed to ``dest`` only when all of that passed (``dest`` must be
    missing or empty). A leading ``./`` is ignored. Returns the number of files extracted.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest}: exists and is not an empty directory; not extracting over it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract.", dir=dest.parent))
    root = os.path.realpath(tmp)
    listed: set[PurePosixPath] = set()  # regular files (and hardlinks) the archive lists
    last = None

    def refuse(name: str, why: str) -> ArchiveError:
        return ArchiveError(f"unsafe member '{name}' in {archive.name}: {why}; refusing the "
                            "archive, nothing was extracted")

    def broken(why: str) -> ArchiveError:
        return ArchiveError(f"{archive}: corrupt or truncated archive ({why}); nothing was "
                            "extracted")

    try:
        stream = _Decompressed(archive)
        try:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo) as tar:
                for m in tar:
                    why = _unsafe(m.name)
                    if why:
                        raise refuse(m.name, why)
                    rel = _member_path(m.name)
                    if rel is None:
                        continue
                    last = m.name
                    target = tmp / rel
                    if m.ischr() or m.isblk() or m.isfifo():
                        raise refuse(m.name, "device or FIFO")
                    if m.issym() or m.islnk():
                        link = m.linkname
                        if _unsafe(link):
                            raise refuse(m.name, f"link to '{link}' points outside the tree")
                        base = rel.parent if m.issym() else PurePosixPath()
                        resolved = os.path.normpath(os.path.join(str(base), link))
                        if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
                            raise refuse(m.name, f"link to '{link}' points outside the tree")
                    elif not (m.isfile() or m.isdir()):
                        raise refuse(m.name, "not a regular file, directory or link")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    parent = os.path.realpath(target.parent)
                    if not _within(root, parent):
                        raise refuse(m.name, "its directory resolves outside the tree (via a link)")
                    if target.is_symlink() or (target.exists() and not target.is_dir()):
                        target.unlink()
                    where = PurePosixPath(os.path.relpath(parent, root), rel.name)  # links resolved
                    listed.discard(where)
                    if m.isdir():
                        target.mkdir(exist_ok=True)
                    elif m.issym():
                        os.symlink(m.linkname, target)
                        if not _within(root, os.path.realpath(target)):
                            raise refuse(m.name, f"link to '{m.linkname}' resolves outside the tree")
                    elif m.islnk():
                        src = tmp / _member_path(m.linkname)
                        if not src.is_file() or not _within(root, os.path.realpath(src)):
                            raise refuse(m.name, f"hardlink to '{m.linkname}', not a file of the tree")
                        os.link(src, target)
                        listed.add(where)
                    else:
                        fin = tar.extractfile(m)
                        with open(target, "wb") as fout:
                            shutil.copyfileobj(fin, fout, 1 << 20)
                        os.chmod(target, 0o644)
                        listed.add(where)
                end = getattr(tar, "end_reason", None)
            stream.drain()  # the rest of the stream: the compressor's CRC and length checks
        except tarfile.TarError as err:
            raise broken(str(err)) from None
        except OSError as err:  # reading errors are ArchiveErrors by now: this is the writing
            if err.errno in _WRITE_ERRNOS:  # the disk's fault, not the archive's
                raise DataError(f"cannot extract into {dest.parent}: {err}; free some space or "
                                "fix the permissions and run again") from None
            raise broken(f"its members do not fit together: {err}") from None
        finally:
            stream.close()
        if not isinstance(end, tarfile.EOFHeaderError):
            after = f"after '{last}'" if last else "at its start"
            raise broken(f"the tar stops {after} without its end-of-archive block")
        found = {PurePosixPath(os.path.relpath(os.path.join(d, f), tmp))
                 for d, _, files in os.walk(tmp) for f in files
                 if not os.path.islink(os.path.join(d, f))}
        if found != listed:
            diff = sorted(map(str, found ^ listed))
            raise broken(f"{len(diff)} files differ between the archive's list and the "
                         f"extracted tree, e.g. '{diff[0]}'")
        os.replace(tmp, dest)  # rename(2) replaces an empty directory
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(listed)


def fetch_speech_commands(url: str, sha256: str, dest: str | Path,
                          cache_dir: str | Path = "data/cache", progress: bool = True,
                          params: str = "params.yaml") -> dict:
    """``data.source: speech_commands``: download (resumable, verified) and extract into ``dest``.

    An archive that fails extraction (unsafe, corrupt, truncated) is renamed ``<name>.rejected``
    so no later run takes it for the good one; its sha256 matched ``data.sha256``, so the
    message points at that value too.
    """
    archive = download(url, sha256, cache_dir, progress=progress, params=params)
    try:
        n = extract_archive(archive, dest)
    except ArchiveError as err:
        aside = archive.with_name(f"{archive.name}.rejected")
        os.replace(archive, aside)
        raise ArchiveError(f"{err}; moved the archive to {aside}. It matched data.sha256 in "
                           f"{params}: check that data.url and data.sha256 there are the "
                           "published ones, then run again to download it anew") from None
    return {"archive": str(archive), "archive_bytes": archive.stat().st_size,
            "files_extracted": n, "skipped": Skipped().to_dict()}
