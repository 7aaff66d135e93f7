"""Re-importing the catalogue, `spec` and `sim` when their sources change: ``mkdocs serve`` shows today's machines.

``mkdocs serve`` rebuilds in one long-lived process: without help, the second build would
reuse the modules imported by the first and show yesterday's timeouts. This module remembers
a fingerprint of the sources it last imported and, when they change, drops the packages (the
catalogue's, `spec`, `sim` whose plots read `spec`, and the page generator) from
``sys.modules`` so the next import reads the files again.

mkdocs loads its configuration, and so a new plugin object, for every rebuild: the memory of
the last fingerprint lives here, in a module the purge keeps. On the first build of a process
nothing is dropped: a test session that imported `spec` keeps its module objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

Fingerprint = tuple[tuple[str, int, int], ...]

_recorded: dict[str, Fingerprint] = {}


def fingerprint(locations: Iterable[Path]) -> Fingerprint:
    """Path, modification time and size of every Python source under `locations` (directories or files)."""
    entries = []
    for location in locations:
        paths = [location] if location.is_file() else sorted(location.rglob("*.py"))
        for path in paths:
            stat = path.stat()
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


def forget_stale_modules(
    key: str, locations: Iterable[Path], packages: Iterable[str], keep: Iterable[str] = ()
) -> bool:
    """Drop `packages` (and their submodules, except those in `keep`) from ``sys.modules`` if `locations` changed.

    Returns True when modules were dropped. `key` separates independent callers.
    """
    current = fingerprint(locations)
    previous = _recorded.get(key)
    _recorded[key] = current
    if previous is None or previous == current:
        return False
    names, kept = tuple(packages), frozenset(keep)
    for module in list(sys.modules):
        if module not in kept and any(module == p or module.startswith(p + ".") for p in names):
            del sys.modules[module]
    return True
