"""What this machine can do, as capability names the orchestrator matches tasks against (seed 4.2).

``detectCapabilities()`` of the seed: the worker advertises facts a task may require — the
Python version, the operating system and architecture, the CPU count and the tools on PATH —
each spelled as a valid `runtime.protocol.CAPABILITY_PATTERN` name. Names a user adds are
validated here first, so a typo fails at startup naming the capability instead of as a 422.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from collections.abc import Iterable

from runtime.protocol import CAPABILITY_PATTERN, MAX_CAPABILITIES
from runtime.worker.errors import WorkerConfigError

#: Executables whose presence is advertised under their own name.
DETECTED_TOOLS = ("git", "sh", "make", "docker", "node", "gcc")


def _slug(text: str) -> str:
    """Lowercase `text` and join its alphanumeric runs with '_' (``"x86_64"`` stays ``"x86_64"``)."""
    return "_".join(re.findall(r"[a-z0-9]+", text.lower()))


def detect_capabilities() -> list[str]:
    """Capabilities of the current process's host, sorted and valid."""
    major, minor = sys.version_info[:2]
    found = {"python", f"python{major}", f"python{major}.{minor}"}
    system = _slug(platform.system())
    if system:
        found.add(f"os.{system}")
    machine = _slug(platform.machine())
    if machine:
        found.add(f"arch.{machine}")
    found.add(f"cpus.{os.cpu_count() or 1}")
    found.update(tool for tool in DETECTED_TOOLS if shutil.which(tool))
    return validate_capabilities(c for c in found if CAPABILITY_PATTERN.match(c))


def validate_capabilities(names: Iterable[str]) -> list[str]:
    """Sorted, de-duplicated `names`; raise naming the first invalid one."""
    unique = sorted(set(names))
    for name in unique:
        if not CAPABILITY_PATTERN.match(name):
            raise WorkerConfigError(
                f"capability {name!r} is invalid: use lowercase words joined by '.', '-' or '_' (e.g. 'ai.codegen')"
            )
    if not unique:
        raise WorkerConfigError("capabilities: a worker needs at least one capability")
    if len(unique) > MAX_CAPABILITIES:
        raise WorkerConfigError(f"capabilities: at most {MAX_CAPABILITIES} allowed, got {len(unique)}")
    return unique
