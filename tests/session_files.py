"""Files the pytest-xdist workers of one session share: one folder for the session, each file
made by the first worker that needs it (a file lock) and read by the others."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Callable


def shared_dir(tmp_path_factory, name: str) -> Path:
    """``name`` under the session's base temp folder (above the per-worker ``popen-gw*``)."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if root.name.startswith("popen-gw") else root
    d = root / name
    d.mkdir(exist_ok=True)
    return d


def made_once(path: Path, write: Callable[[Path], object]) -> bytes:
    """The bytes of ``path``, after ``write(path)`` if no worker has written it yet."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            write(path)
    return path.read_bytes()
