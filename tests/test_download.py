"""data.source speech_commands (download, resume, checksum, safe extraction) and folder.

The download is served from a local HTTP server on 127.0.0.1 with a tiny tar.gz built here.
"""

import errno
import gzip
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from kws.audio import write_wav
from kws.data import speech_commands as sc
from kws.errors import DataError

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "stages" / "download.py"
REAL = REPO.parent / "shared" / "data" / "speech_commands_v0.01"


# --- a local server that speaks Range -------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    files: dict = {}
    log: list = []
    honour_range = True

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        data = self.files.get(self.path)
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng and self.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    handler = type("H", (_Handler,), {"files": {}, "log": [], "honour_range": True})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _wav_bytes(freq: float) -> bytes:
    buf = io.BytesIO()
    t = np.arange(16000) / 16000
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **kw) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if data else None)


SPEAKERS = ("0a7c2a8d", "3cfc6b3a", "c1d39ce8")
LISTS = {"validation_list.txt": "yes/3cfc6b3a_nohash_0.wav\n",
         "testing_list.txt": "no/c1d39ce8_nohash_0.wav\n"}


def make_tar(members=None, words=("yes", "no"), speakers=SPEAKERS, lists=LISTS,
             noise=True) -> bytes:
    """A tiny Speech Commands-like tar (``./`` prefixed, as the real one), uncompressed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, ".", type=tarfile.DIRTYPE, mode=0o755)
        for i, word in enumerate(words):
            _add(tar, f"./{word}", type=tarfile.DIRTYPE, mode=0o755)
            for spk in speakers:
                _add(tar, f"./{word}/{spk}_nohash_0.wav", _wav_bytes(300 + 100 * i))
        if noise:
            _add(tar, "./_background_noise_/white_noise.wav", _wav_bytes(1000))
        for name, text in lists.items():
            _add(tar, f"./{name}", text.encode())
        for m in members or []:
            _add(tar, *m[:2], **(m[2] if len(m) > 2 else {}))
    return buf.getvalue()


def make_archive(members=None, **kw) -> bytes:
    """``make_tar`` as a .tar.gz."""
    return gzip.compress(make_tar(members, **kw), mtime=0)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/sc.tar.gz"


# --- download ---------------------------------------------------------------------------------
def test_download_verifies_and_extracts(server, tmp_path):
    url, h = server
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    path = sc.download(f"{url}/sc.tar.gz", _sha(data), tmp_path / "cache", progress=False)
    assert path == tmp_path / "cache" / "sc.tar.gz" and path.read_bytes() == data
    assert not (tmp_path / "cache" / "sc.tar.gz.part").exists()
    n = sc.extract_archive(path, tmp_path / "raw")
    assert n == 9
    assert sc.list_clips(tmp_path / "raw") == sorted(
        f"{w}/{s}_nohash_0.wav" for w in ("no", "yes") for s in ("0a7c2a8d", "3cfc6b3a", "c1d39ce8"))
    assert (tmp_path / "raw" / "_background_noise_" / "white_noise.wav").read_bytes() == _wav_bytes(1000)
    # a verified archive in the cache is reused without asking the server again
    h.log.clear()
    assert sc.download(f"{url}/sc.tar.gz", _sha(data), tmp_path / "cache", progress=False) == path
    assert h.log == []


def test_a_partial_download_resumes_with_a_range_request(server, tmp_path):
    url, h = server
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    cache = tmp_path / "cache"
    cache.mkdir()
    half = len(data) // 2
    (cache / "sc.tar.gz.part").write_bytes(data[:half])
    path = sc.download(f"{url}/sc.tar.gz", _sha(data), cache, progress=False, chunk=1024)
    assert h.log == [("/sc.tar.gz", f"bytes={half}-")]
    assert path.read_bytes() == data


def test_a_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url, h = server
    h.honour_range = False
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sc.tar.gz.part").write_bytes(b"garbage that is not the start of the file")
    assert sc.download(f"{url}/sc.tar.gz", _sha(data), cache, progress=False).read_bytes() == data


def test_a_complete_part_file_is_verified_after_a_416(server, tmp_path):
    url, h = server
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sc.tar.gz.part").write_bytes(data)
    assert sc.download(f"{url}/sc.tar.gz", _sha(data), cache, progress=False).read_bytes() == data


def test_wrong_checksum_is_one_clear_error_and_keeps_the_file_aside(server, tmp_path):
    url, h = server
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    with pytest.raises(DataError) as err:
        sc.download(f"{url}/sc.tar.gz", "0" * 64, tmp_path / "cache", progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and _sha(data) in msg and "0" * 64 in msg
    assert "data.sha256 in params.yaml" in msg and "\n" not in msg
    kept = tmp_path / "cache" / f"sc.tar.gz.{_sha(data)[:12]}.sha256-mismatch"
    assert list((tmp_path / "cache").iterdir()) == [kept] and kept.read_bytes() == data
    assert str(kept) in msg


def test_unreachable_url_is_the_one_line_offline_error(tmp_path):
    with pytest.raises(DataError) as err:
        sc.download(_dead_url(), "0" * 64, tmp_path / "cache", progress=False, timeout=5)
    msg = str(err.value)
    assert "\n" not in msg and "cannot reach" in msg
    assert "data.source: synthetic" in msg and "data.source: folder" in msg


def test_http_error_names_the_status(server, tmp_path):
    url, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        sc.download(f"{url}/missing.tar.gz", "0" * 64, tmp_path / "cache", progress=False)


# --- unsafe archives --------------------------------------------------------------------------
@pytest.mark.parametrize("member, why", [
    (("../evil.txt", b"x"), "'..'"),
    (("./yes/../../evil.txt", b"x"), "'..'"),
    (("/tmp/kws_evil_abs.txt", b"x"), "absolute path"),
    (("./link", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc"}), "outside the tree"),
    (("./yes/link", b"", {"type": tarfile.SYMTYPE, "linkname": "../../.."}), "outside the tree"),
    (("./hard", b"", {"type": tarfile.LNKTYPE, "linkname": "../evil.txt"}), "outside the tree"),
    (("./dev", b"", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}), "device"),
    (("./fifo", b"", {"type": tarfile.FIFOTYPE}), "device or FIFO"),
])
def test_unsafe_members_are_refused_and_nothing_is_extracted(tmp_path, member, why):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(make_archive([member]))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DataError) as err:
        sc.extract_archive(archive, work / "raw")
    msg = str(err.value)
    assert "unsafe member" in msg and why in msg and "nothing was extracted" in msg
    assert list(work.iterdir()) == []  # no raw/, no temporary folder left behind
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/kws_evil_abs.txt").exists()


def test_a_symlink_chain_that_escapes_is_refused(tmp_path):
    # b -> "." is harmless; c -> "b/.." normalizes to "." but resolves to the parent: any '..'
    # in a link target is refused (and every write is checked against the resolved tree too).
    archive = tmp_path / "chain.tar.gz"
    archive.write_bytes(make_archive([
        ("./b", b"", {"type": tarfile.SYMTYPE, "linkname": "."}),
        ("./c", b"", {"type": tarfile.SYMTYPE, "linkname": "b/.."}),
        ("./c/evil.txt", b"x"),
    ]))
    with pytest.raises(DataError, match="unsafe member './c'"):
        sc.extract_archive(archive, tmp_path / "out" / "raw")
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_a_truncated_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(make_archive()[:300])
    with pytest.raises(DataError, match="corrupt or truncated"):
        sc.extract_archive(archive, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


# --- archives that are not whole (issue 20) -----------------------------------------------
def _flip(data: bytes, at: int, n: int = 16) -> bytes:
    b = bytearray(data)
    for i in range(at, at + n):
        b[i] ^= 0xFF
    return bytes(b)


def _refused(tmp_path: Path, data: bytes, *needles: str) -> str:
    """extract_archive on ``data`` must fail with one line and leave nothing behind."""
    archive = tmp_path / "sc.tar.gz"
    archive.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DataError) as err:
        sc.extract_archive(archive, work / "raw")
    msg = str(err.value)
    assert "corrupt or truncated" in msg and str(archive) in msg and "\n" not in msg
    assert all(n in msg for n in needles), msg
    assert list(work.iterdir()) == []  # no raw/, no temporary folder left behind
    return msg


@pytest.mark.parametrize("at, why", [(-8, "CRC check failed"), (-4, "Incorrect length")],
                         ids=["crc", "length"])
def test_a_gzip_trailer_that_does_not_match_is_refused(tmp_path, at, why):
    """tarfile's stream mode never reads the gzip trailer; `gzip -t` does, and so must we."""
    gz = make_archive()
    _refused(tmp_path, _flip(gz, len(gz) + at, 4), why)


@pytest.mark.parametrize("compress", [lambda b: gzip.compress(b, mtime=0), lambda b: b],
                         ids=["tar.gz", "tar"])
def test_a_tar_cut_at_a_member_boundary_is_refused(tmp_path, compress):
    """A valid gzip around a tar that stops right after a member: tarfile takes it for the end."""
    tar = make_tar()
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        m = [m for m in t.getmembers() if m.isfile()][2]
    cut = m.offset_data + -(-m.size // 512) * 512
    _refused(tmp_path, compress(tar[:cut]), "end-of-archive", m.name)


@pytest.mark.parametrize("where", ["97%", "50%", "a member header", "a clip's samples"])
def test_flipped_bytes_mid_archive_are_refused(tmp_path, where):
    """16 flipped bytes, as in issue 20, where tarfile alone extracted part of the archive and
    said nothing. In the compressed archive they decompress to garbage; in a stored (level 0)
    gzip they land exactly on a tar header or on wav samples."""
    if where.endswith("%"):
        gz = make_archive()
        at = len(gz) * int(where[:-1]) // 100
    else:
        gz = gzip.compress(make_tar(), compresslevel=0, mtime=0)
        at = gz.index(b"./no/3cfc6b3a_nohash_0.wav") + (0 if where == "a member header" else 1512)
    _refused(tmp_path, _flip(gz, at))


def test_a_full_disk_is_not_blamed_on_the_archive(tmp_path, monkeypatch):
    """A write error while extracting says so and leaves the (good) archive where it is."""
    gz = make_archive()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sc.tar.gz").write_bytes(gz)

    def full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", full)
    with pytest.raises(DataError) as err:
        sc.fetch_speech_commands(_dead_url(), _sha(gz), tmp_path / "work" / "raw", cache,
                                 progress=False)
    msg = str(err.value)
    assert "No space left on device" in msg and "free some space" in msg
    assert "corrupt" not in msg and "delete" not in msg
    assert [p.name for p in cache.iterdir()] == ["sc.tar.gz"]
    assert list((tmp_path / "work").iterdir()) == []


# --- the stage, end to end --------------------------------------------------------------------
def _stage(cwd: Path, params: dict, *args: str) -> subprocess.CompletedProcess:
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(STAGE), "--quiet", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_stage_downloads_and_writes_layout_and_metrics(server, tmp_path):
    url, h = server
    data = make_archive()
    h.files["/sc.tar.gz"] = data
    r = _stage(tmp_path, {"data": {"source": "speech_commands", "url": f"{url}/sc.tar.gz",
                                   "sha256": _sha(data), "words": ["yes"]}})  # 'no': _unknown_
    assert r.returncode == 0, r.stderr
    raw = tmp_path / "data" / "raw"
    assert sc.read_list(raw / "validation_list.txt") == ["yes/3cfc6b3a_nohash_0.wav"]
    m = yaml.safe_load((tmp_path / "reports" / "data" / "metrics.json").read_text())
    assert m["source"] == "speech_commands"
    assert m["clips"] == {"train": 4, "validation": 1, "test": 1, "total": 6}
    assert m["clips_per_word"]["no"] == {"train": 2, "validation": 0, "test": 1}
    assert m["background_noise_files"] == 1 and m["skipped"]["count"] == 0
    assert (tmp_path / "data" / "cache" / "sc.tar.gz").exists()  # kept for the next run


def test_stage_with_a_wrong_checksum_leaves_no_data_raw(server, tmp_path):
    url, h = server
    h.files["/sc.tar.gz"] = make_archive()
    r = _stage(tmp_path, {"data": {"source": "speech_commands", "url": f"{url}/sc.tar.gz",
                                   "sha256": "ab" * 32}})
    assert r.returncode == 2
    assert r.stderr.startswith("error: checksum mismatch") and r.stderr.count("\n") == 1
    assert not (tmp_path / "data" / "raw").exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cache"]
    assert [p.name for p in (tmp_path / "data" / "cache").iterdir()] == [
        f"sc.tar.gz.{_sha(h.files['/sc.tar.gz'])[:12]}.sha256-mismatch"]
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("data, expected", [
    ({"source": "folder"}, "error: params.yaml: data.source is 'folder' but data.folder is empty"),
    ({"source": "folder", "folder": "no/such/dir"}, "error: data.folder = 'no/such/dir': no such directory"),
    ({"sha256": "xyz"}, "error: params.yaml: data.sha256 = 'xyz': must be 64 hex digits"),
])
def test_bad_params_fail_with_one_line_and_no_traceback(tmp_path, data, expected):
    r = _stage(tmp_path, {"data": data})
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error:") == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(expected)
    assert not (tmp_path / "data" / "raw").exists()


def _cached_stage(cwd: Path, archive: bytes, data: dict, *args: str):
    """The stage on ``archive`` already in data/cache; the URL is unreachable, so any attempt to
    download shows as a 'cannot reach' error."""
    cache = cwd / "data" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "sc.tar.gz").write_bytes(archive)
    return _stage(cwd, {"data": {"source": "speech_commands", "url": _dead_url(),
                                 "sha256": _sha(archive), **data}}, *args)


def _failed(r: subprocess.CompletedProcess, cwd: Path) -> None:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (cwd / "data" / "raw").exists() and not (cwd / "reports").exists()
    assert [p.name for p in (cwd / "data").iterdir()] == ["cache"]  # no temporary folder


def test_stage_moves_a_damaged_archive_aside_and_writes_nothing(server, tmp_path):
    """Issue 20: 16 bytes flipped at 97%, with data.sha256 set to that very file, gave exit 0
    and part of the clips. Now one line names the file and the fix, the file is renamed
    *.rejected (never reused), and the published archive with its hash then works."""
    url, h = server
    gz = make_archive()
    bad = _flip(gz, len(gz) * 97 // 100)
    h.files["/sc.tar.gz"] = bad
    params = {"data": {"source": "speech_commands", "url": f"{url}/sc.tar.gz", "sha256": _sha(bad),
                       "words": ["yes"]}}
    r = _stage(tmp_path, params)
    _failed(r, tmp_path)
    assert r.stderr.startswith("error: data/cache/sc.tar.gz: corrupt or truncated archive")
    assert "moved the archive to data/cache/sc.tar.gz.rejected" in r.stderr
    assert "data.sha256 in params.yaml" in r.stderr
    cache = tmp_path / "data" / "cache"
    assert [p.name for p in cache.iterdir()] == ["sc.tar.gz.rejected"]
    assert (cache / "sc.tar.gz.rejected").read_bytes() == bad
    h.files["/sc.tar.gz"] = gz
    params["data"]["sha256"] = _sha(gz)
    r = _stage(tmp_path, params)
    assert r.returncode == 0, r.stderr
    assert (cache / "sc.tar.gz").read_bytes() == gz
    assert len(sc.list_clips(tmp_path / "data" / "raw")) == 6


def test_a_checksum_typo_keeps_a_good_cached_archive(tmp_path):
    """Issue 20: a typo in data.sha256 deleted the good cached archive, and the next run asked
    to put the archive in data/cache/. Now it is kept aside, named in the message, nothing is
    downloaded while it is there, and fixing the typo uses it again (offline)."""
    gz = make_archive()
    good = _sha(gz)
    typo = good[:-1] + ("0" if good[-1] != "0" else "1")
    kept = Path("data/cache") / f"sc.tar.gz.{good[:12]}.sha256-mismatch"
    params = {"data": {"source": "speech_commands", "url": _dead_url(), "sha256": typo,
                       "words": ["yes"]}}

    def refused(r: subprocess.CompletedProcess) -> None:
        _failed(r, tmp_path)
        assert r.stderr.startswith("error: checksum mismatch") and "cannot reach" not in r.stderr
        assert good in r.stderr and typo in r.stderr and "data.sha256 in params.yaml" in r.stderr
        assert f"kept as {kept}" in r.stderr
        assert list((tmp_path / "data/cache").iterdir()) == [tmp_path / kept]
        assert (tmp_path / kept).read_bytes() == gz

    refused(_cached_stage(tmp_path, gz, params["data"]))  # the archive in the cache
    refused(_stage(tmp_path, params))  # again: only the kept file is there, nothing downloaded
    params["data"]["sha256"] = good
    r = _stage(tmp_path, params)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "data/cache").iterdir()] == ["sc.tar.gz"]
    assert len(sc.list_clips(tmp_path / "data" / "raw")) == 6


def _lines(*clips: str) -> str:
    return "".join(f"{c}\n" for c in clips)


@pytest.mark.parametrize("lists, message", [
    ({**LISTS, "testing_list.txt": ""},
     "gives an empty test split (train 5, validation 1, test 0 clips)"),
    ({"validation_list.txt": _lines(*(f"yes/{s}_nohash_0.wav" for s in SPEAKERS)),
      "testing_list.txt": _lines(*(f"no/{s}_nohash_0.wav" for s in SPEAKERS))},
     "gives an empty train split (train 0, validation 3, test 3 clips)"),
], ids=["test", "train"])
def test_stage_refuses_an_empty_split(tmp_path, lists, message):
    """Issue 20: no training clips passed download and featurize and failed only in train."""
    r = _cached_stage(tmp_path, make_archive(lists=lists), {"words": ["yes"]})
    _failed(r, tmp_path)
    assert message in r.stderr and "params.yaml" in r.stderr
    assert (tmp_path / "data/cache/sc.tar.gz").exists()  # a good archive: kept as it is


def test_stage_refuses_a_word_without_training_clips(tmp_path):
    lists = {"validation_list.txt": _lines(*(f"yes/{s}_nohash_0.wav" for s in SPEAKERS[:2])),
             "testing_list.txt": _lines("yes/c1d39ce8_nohash_0.wav", "no/c1d39ce8_nohash_0.wav")}
    r = _cached_stage(tmp_path, make_archive(lists=lists), {"words": ["yes", "zero"],
                                                             "unknown_percentage": 0})
    _failed(r, tmp_path)
    assert ("data.words in params.yaml has no training clips of 'yes' (train 0, validation 2, "
            "test 1); 'zero' (train 0, validation 0, test 0)") in r.stderr


@pytest.mark.parametrize("kw, words, share", [
    ({}, ["yes", "no"], "unknown_percentage"),
    ({"noise": False}, ["yes"], "silence_percentage"),
])
def test_stage_refuses_data_without_unknown_or_noise_material(tmp_path, kw, words, share):
    archive = make_archive(**kw)
    r = _cached_stage(tmp_path, archive, {"words": words})
    _failed(r, tmp_path)
    assert f"data.{share} is 10 in params.yaml" in r.stderr
    assert f"or set data.{share}: 0" in r.stderr
    r = _cached_stage(tmp_path, archive, {"words": words, share: 0})
    assert r.returncode == 0, r.stderr


def test_stage_warns_about_a_missing_list_and_a_word_missing_from_a_split(tmp_path):
    """Warnings, printed and in the metrics: a list the archive lacks (computed with the hash
    split, not silently), a word with no test clip, a list entry without its clip."""
    names = [f"{i:08x}" for i in range(200)]
    val = next(n for n in names if sc.which_set(f"{n}_nohash_0.wav", 10, 10) == "validation")
    train = [n for n in names if sc.which_set(f"{n}_nohash_0.wav", 10, 10) == "training"][:2]
    lists = {"testing_list.txt": _lines(f"no/{train[1]}_nohash_0.wav", "no/deadbeef_nohash_0.wav")}
    r = _cached_stage(tmp_path, make_archive(speakers=(train[0], val, train[1]), lists=lists),
                      {"words": ["yes"]})
    assert r.returncode == 0, r.stderr
    m = yaml.safe_load((tmp_path / "reports" / "data" / "metrics.json").read_text())
    assert m["clips_per_word"]["yes"] == {"train": 2, "validation": 1, "test": 0}
    assert m["warnings"] == [
        "data.source: speech_commands has no validation_list.txt: computed it with which_set "
        "(the Speech Commands hash split)",
        "no test clips of data.words ['yes']: the test split cannot measure them",
        "testing_list.txt names 1 clip(s) the data set lacks"]
    assert [ln.removeprefix("warning: ") for ln in r.stderr.splitlines()] == m["warnings"]


@pytest.mark.parametrize("data, expected", [
    ({"sha256": "xyz"}, "error: exp.yaml: data.sha256 = 'xyz'"),
    ({"sha256": "0" * 64}, "data.sha256 in exp.yaml is " + "0" * 64),
    ({"words": ["zero"]}, "data.words in exp.yaml has no training clips of 'zero'"),
], ids=["bad value", "checksum", "words"])
def test_stage_messages_name_the_params_file_read(tmp_path, data, expected):
    """Issue 20: with --params exp.yaml the messages said params.yaml."""
    gz = make_archive()
    (tmp_path / "data" / "cache").mkdir(parents=True)
    (tmp_path / "data" / "cache" / "sc.tar.gz").write_bytes(gz)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({"data": {
        "source": "speech_commands", "url": _dead_url(), "sha256": _sha(gz), **data}}))
    r = subprocess.run([sys.executable, str(STAGE), "--quiet", "--params", "exp.yaml"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert expected in r.stderr and "params.yaml" not in r.stderr


def test_help_explains_the_sources():
    r = subprocess.run([sys.executable, str(STAGE), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    for word in ("synthetic", "speech_commands", "folder", "--params", "data/raw"):
        assert word in r.stdout


# --- data.source: folder ----------------------------------------------------------------------
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} not present")


@needs_real
def test_folder_source_skips_and_counts_bad_wavs(tmp_path):
    src = tmp_path / "src"
    chosen = []
    for word in ("yes", "no", "up"):
        (src / word).mkdir(parents=True)
        for f in sorted((REAL / word).glob("*.wav"))[:3]:
            shutil.copyfile(f, src / word / f.name)
            chosen.append(f"{word}/{f.name}")
    (src / "yes" / "deadbeef_nohash_0.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    sf.write(src / "no" / "feedface_nohash_0.wav", np.zeros(8000), 8000, subtype="PCM_16")
    good = (src / "up" / Path(chosen[-1]).name).read_bytes()
    (src / "up" / "0badc0de_nohash_0.wav").write_bytes(good[: len(good) // 2])  # truncated
    (src / "up" / "notes.txt").write_text("not audio")
    (src / "up" / "badname.wav").write_bytes(good)
    out = tmp_path / "out"
    rep = sc.import_folder(src, out, 10, 10)
    assert rep["clips_copied"] == 9
    assert sc.list_clips(out) == sorted(chosen)
    sk = rep["skipped"]
    assert sk["count"] == 5
    reasons = {f["file"]: f["reason"] for f in sk["files"]}
    assert reasons["no/feedface_nohash_0.wav"].startswith("sample rate 8000 Hz, expected 16000 Hz")
    assert "wav has no data chunk" in reasons["yes/deadbeef_nohash_0.wav"]
    assert reasons["up/0badc0de_nohash_0.wav"].startswith("truncated wav")
    assert reasons["up/notes.txt"] == "not a .wav file"
    assert reasons["up/badname.wav"] == "name is not <speaker>_nohash_<n>.wav"
    assert sk["by_reason"]["sample rate 8000 Hz, expected 16000 Hz"] == 1
    assert sk["by_reason"]["truncated wav"] == 1
    # same file system: hardlinked, not copied
    assert rep["transfer"] == {"hardlink": 9}
    assert os.path.samefile(out / chosen[0], src / chosen[0])
    # no lists in the folder: computed with which_set
    assert {v["origin"] for v in rep["lists"].values()} == {"which_set"}
    val = sc.read_list(out / "validation_list.txt")
    assert val == sorted(c for c in chosen if sc.which_set(c, 10, 10) == "validation")


@needs_real
def test_folder_source_on_the_real_clips_keeps_their_lists(tmp_path):
    out = tmp_path / "raw"
    rep = sc.import_folder(REAL, out, 10, 10)
    assert rep["clips_copied"] == 300 and rep["skipped"]["count"] == 0
    present = set(sc.list_clips(out))
    for name in ("validation_list.txt", "testing_list.txt"):
        given = [e for e in sc.read_list(REAL / name) if e in present]
        assert sc.read_list(out / name) == sorted(given) and given
        assert rep["lists"][name]["origin"] == "given"
    s = sc.summarize(out)
    assert s["clips"]["total"] == 300 and s["speakers_in_more_than_one_split"] == 0
    assert s["clips"]["validation"] == len(sc.read_list(out / "validation_list.txt"))


def test_folder_with_no_valid_clip_is_an_error(tmp_path):
    (tmp_path / "src" / "yes").mkdir(parents=True)
    (tmp_path / "src" / "yes" / "a_nohash_0.wav").write_bytes(b"nope")
    with pytest.raises(DataError, match="no valid clip found"):
        sc.import_folder(tmp_path / "src", tmp_path / "out", 10, 10)


def test_noise_folder_wavs_are_checked_too(tmp_path):
    src = tmp_path / "src"
    (src / "yes").mkdir(parents=True)
    write_wav(src / "yes" / "abc_nohash_0.wav", np.zeros(16000, np.float32))
    (src / "_background_noise_").mkdir()
    write_wav(src / "_background_noise_" / "hum.wav", np.zeros(48000, np.float32))
    sf.write(src / "_background_noise_" / "stereo.wav", np.zeros((100, 2)), 16000)
    rep = sc.import_folder(src, tmp_path / "out", 10, 10)
    assert rep["background_noise_copied"] == 1
    assert rep["skipped"]["files"][0]["file"] == "_background_noise_/stereo.wav"
    assert "2 channels" in rep["skipped"]["files"][0]["reason"]
