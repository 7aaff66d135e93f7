"""The entry points pyproject.toml declares, visible to a subprocess without reinstalling the checkout.

The mkdocs plugin (``mkdocs.plugins``) and the pytest fixtures (``pytest11``) are found through
the installed distribution's entry points; an editable install made before they were declared
(or from another checkout) does not list them. These helpers write a ``.dist-info`` holding the
entry points read from this checkout's pyproject.toml and put it first on ``PYTHONPATH``:
``importlib.metadata`` then finds this distribution's metadata before the installed one, so the
tests exercise exactly what pyproject declares.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_dist_info(directory: Path) -> Path:
    """Write ``orchestration_spec-<version>.dist-info`` with pyproject's entry points under `directory`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = directory / f"orchestration_spec-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return directory


def environment(directory: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment), this checkout and its entry points first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    paths = [str(write_dist_info(directory)), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env
