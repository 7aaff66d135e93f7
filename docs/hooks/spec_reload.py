"""Re-importing `spec` and `sim` when their sources change, so ``mkdocs serve`` shows the current machines.

``mkdocs serve`` rebuilds in one long-lived process: without help, the second build would
reuse the `spec` modules imported by the first and show yesterday's timeouts. This module
remembers a fingerprint of the sources it last imported and, when they change, drops `spec`,
`sim` (whose plots read `spec`) and the page generator from ``sys.modules`` so the next import
reads the files again.

It lives outside `spec_docs` because it must survive that purge. On the first build of a
process nothing is dropped: a test session that imported `spec` keeps its module objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

Fingerprint = tuple[tuple[str, int, int], ...]

_recorded: dict[str, Fingerprint] = {}


def fingerprint(directories: Iterable[Path]) -> Fingerprint:
    """Path, modification time and size of every Python source under `directories`."""
    entries = []
    for directory in directories:
        for path in sorted(directory.rglob("*.py")):
            stat = path.stat()
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


def forget_stale_modules(key: str, directories: Iterable[Path], packages: Iterable[str]) -> bool:
    """Drop `packages` (and their submodules) from ``sys.modules`` if `directories` changed.

    Returns True when modules were dropped. `key` separates independent callers.
    """
    current = fingerprint(directories)
    previous = _recorded.get(key)
    _recorded[key] = current
    if previous is None or previous == current:
        return False
    names = tuple(packages)
    for module in list(sys.modules):
        if any(module == p or module.startswith(p + ".") for p in names):
            del sys.modules[module]
    return True
