"""What every stage script shares: clean error exit, atomic outputs, JSON writing.

A stage either finishes and leaves complete outputs, or fails with one line on stderr and
leaves nothing that looks complete: outputs are written to a temporary sibling and renamed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from kws.errors import KwsError


def run(main: Callable[[], Any]) -> None:
    """Call ``main``; turn a ``KwsError`` into one line on stderr and exit status 2."""
    try:
        main()
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: outputs of this stage were not written", file=sys.stderr)
        sys.exit(130)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    # mkstemp/mkdtemp create 0600/0700; give outputs the usual umask-respecting modes.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod((0o777 if is_dir else 0o666) & ~umask)
    if is_dir and path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def elapsed() -> float:
    """Wall seconds since this process started (interpreter start-up and imports included):
    what a stage costs ``dvc repro``."""
    import time

    import psutil

    return time.time() - psutil.Process().create_time()


def write_metrics(path: str | os.PathLike, metrics: dict) -> dict:
    """A stage's metrics.json with its wall time as the top-level ``seconds`` (every stage
    reports its cost the same way; the report sums them)."""
    metrics = {**metrics, "seconds": round(elapsed(), 1)}
    write_json(path, metrics)
    return metrics


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())
