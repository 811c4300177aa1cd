"""The code a stage runs, derived from its imports: dvc.yaml's code deps and the sweep caches'
keys come from here, so neither can drift from the code.

``closure(script)`` follows every ``import`` of the project's own package (``kws``)
transitively, statically (``ast``; imports inside functions count too, since they run), and adds
the non-Python files a module declares it reads in a module-level ``FILE_DEPS`` tuple of
repository-relative paths (for example the firmware C sources). Modules outside ``kws`` (torch,
numpy, ...) are pinned by the lock file, not tracked here.

``python -m kws.deps``          print each stage's code closure
``python -m kws.deps --check``  exit 1 and name every gap between dvc.yaml and the closures
``python -m kws.deps --write``  rewrite the code part of each stage's ``deps:`` in dvc.yaml
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "kws"
# deps under these folders are code (derived); every other dep (data/, models/, reports/) is data.
CODE_PREFIXES = ("stages/", f"{PACKAGE}/", "firmware/")


def _module_file(name: str) -> Path | None:
    """``kws.a.b`` -> kws/a/b.py or kws/a/b/__init__.py (None if neither exists)."""
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _with_parents(name: str) -> list[str]:
    """A module and the packages Python imports first: ``kws.a.b`` -> kws, kws.a, kws.a.b."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def _scan(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(project modules imported, FILE_DEPS) of one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    here = _module_name(path) if path.is_relative_to(ROOT / PACKAGE) else ""
    mods: set[str] = set()
    files: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".") if is_pkg else here.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            mods.add(mod)
            # ``from kws.x import y``: y may be a submodule
            mods.update(f"{mod}.{a.name}" for a in node.names if _module_file(f"{mod}.{a.name}"))
        elif isinstance(node, ast.Assign) and node in tree.body and any(
                isinstance(t, ast.Name) and t.id == "FILE_DEPS" for t in node.targets):
            files.extend(ast.literal_eval(node.value))
    own = {m for m in mods if m == PACKAGE or m.startswith(PACKAGE + ".")}
    return tuple(sorted(own)), tuple(files)


def closure(script: str | Path) -> list[str]:
    """Repository-relative paths of ``script`` and of every project file it runs: the ``kws``
    modules it imports, transitively, and their ``FILE_DEPS``. Sorted."""
    start = (ROOT / script).resolve()
    seen: set[Path] = set()
    files: set[str] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        mods, extra = _scan(path)
        files.update(extra)
        for m in mods:
            for name in _with_parents(m):
                f = _module_file(name)
                if f is not None and f not in seen:
                    todo.append(f)
    for f in files:
        if not (ROOT / f).exists():
            raise FileNotFoundError(f"FILE_DEPS names {f}, which does not exist")
    found = {str(p.relative_to(ROOT)) for p in seen} | files
    # a file inside a declared folder is covered by the folder
    dirs = [f for f in found if (ROOT / f).is_dir()]
    return sorted(f for f in found if not any(f.startswith(d + "/") for d in dirs))


def _files_under(rel: str) -> list[Path]:
    p = ROOT / rel
    if p.is_dir():
        return sorted(q for q in p.rglob("*") if q.is_file() and "__pycache__" not in q.parts
                      and q.suffix != ".pyc")
    return [p]


def fingerprint(script: str | Path) -> str:
    """sha256 over the contents of ``closure(script)``: what a cached result of that stage's
    code depends on (the sweep caches key on it)."""
    h = hashlib.sha256()
    for rel in closure(script):
        for f in _files_under(rel):
            h.update(str(f.relative_to(ROOT)).encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()


# --- dvc.yaml ------------------------------------------------------------------------------------
def _yaml():
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never rewrap dvc.yaml's long lines
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def stage_script(cmd: str) -> str | None:
    """``python stages/x.py --flag`` -> ``stages/x.py``."""
    words = cmd.split()
    return next((w for w in words if w.endswith(".py")), None)


def _is_code(dep: str) -> bool:
    return any(dep.startswith(p) for p in CODE_PREFIXES)


def expected_deps(dvc_yaml: Path = ROOT / "dvc.yaml") -> dict[str, tuple[list[str], list[str]]]:
    """stage -> (declared code deps, derived code deps)."""
    doc = _yaml().load(dvc_yaml.read_text())
    out = {}
    for name, st in doc["stages"].items():
        script = stage_script(str(st["cmd"]))
        if script is None:
            continue
        declared = [str(d) for d in st.get("deps", []) if _is_code(str(d))]
        out[name] = (declared, closure(script))
    return out


def check(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[str]:
    """One line per stage whose declared code deps differ from its import closure."""
    problems = []
    for name, (declared, derived) in expected_deps(dvc_yaml).items():
        missing = sorted(set(derived) - set(declared))
        extra = sorted(set(declared) - set(derived))
        if missing:
            problems.append(f"{name}: imports but does not declare {', '.join(missing)}")
        if extra:
            problems.append(f"{name}: declares but does not import {', '.join(extra)}")
    return problems


def write(dvc_yaml: Path = ROOT / "dvc.yaml") -> bool:
    """Replace each stage's code deps by its closure (data deps kept, after the code). Returns
    whether the file changed."""
    y = _yaml()
    text = dvc_yaml.read_text()
    doc = y.load(text)
    for name, st in doc["stages"].items():
        script = stage_script(str(st["cmd"]))
        if script is None:
            continue
        deps = st.get("deps", [])
        # comments ride on list items: keep each data dep's own, and the comment block after
        # the old last item (it often explains the deps) on the new last item
        old = list(deps)
        notes = {str(d): deps.ca.items.get(i) for i, d in enumerate(old)}
        tail = deps.ca.items.get(len(old) - 1)
        data = [d for d in old if not _is_code(str(d))]
        new = closure(script) + data
        deps.clear()
        deps.ca.items.clear()
        deps.extend(new)
        for i, d in enumerate(new):
            if d in data and notes.get(str(d)) is not None:
                deps.ca.items[i] = notes[str(d)]
        if tail is not None and new:
            deps.ca.items[len(new) - 1] = tail
    import io

    buf = io.StringIO()
    y.dump(doc, buf)
    if buf.getvalue() == text:
        return False
    dvc_yaml.write_text(buf.getvalue())
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="compare dvc.yaml with the closures")
    g.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = p.parse_args(argv)
    if args.check:
        problems = check()
        for line in problems:
            print(line)
        if problems:
            print("fix: python -m kws.deps --write", file=sys.stderr)
        return 1 if problems else 0
    if args.write:
        print("dvc.yaml updated" if write() else "dvc.yaml already matches the code")
        return 0
    for name, (_, derived) in expected_deps().items():
        print(f"{name}:")
        for f in derived:
            print(f"  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
