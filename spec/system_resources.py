"""The machine resources whose exhaustion is a system error (seed 4.5 "System Errors": out of memory,
disk full, CPU exhaustion), and the OS error numbers that say which one ran out.

Declared once here: `spec.classify` classes an error with one of these numbers as a system error,
and `spec.decisions.system_errors` decides from the resource whether it is critical (emergency
shutdown) or worth a recovery attempt (``SystemErrorPolicy``).
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class SystemResource(StrEnum):
    """One resource of the machine a process runs on."""

    DISK = "disk"
    MEMORY = "memory"
    FILE_DESCRIPTORS = "file_descriptors"
    NETWORK_BUFFERS = "network_buffers"


_ERRNO_NAMES: Mapping[str, SystemResource] = {
    "ENOSPC": SystemResource.DISK,
    "EDQUOT": SystemResource.DISK,
    "ENOMEM": SystemResource.MEMORY,
    "EMFILE": SystemResource.FILE_DESCRIPTORS,
    "ENFILE": SystemResource.FILE_DESCRIPTORS,
    "ENOBUFS": SystemResource.NETWORK_BUFFERS,
}

#: OS error number -> the resource it says ran out (numbers this platform's OS does not define are left out).
RESOURCE_OF_ERRNO: Mapping[int, SystemResource] = MappingProxyType({
    code: resource
    for name, resource in _ERRNO_NAMES.items()
    if (code := getattr(errno, name, None)) is not None
})

#: How deep `exhausted_resource` follows ``__cause__``/``__context__`` (a guard against cycles).
MAX_CAUSE_DEPTH = 8


def exhausted_resource(exc: BaseException) -> SystemResource | None:
    """The resource an exception says ran out: ``MemoryError``, or an ``OSError`` with a resource errno,
    itself or as the cause of a wrapping exception; ``None`` for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    for _ in range(MAX_CAUSE_DEPTH):
        if current is None or id(current) in seen:
            return None
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return SystemResource.MEMORY
        if isinstance(current, OSError) and isinstance(current.errno, int) and current.errno in RESOURCE_OF_ERRNO:
            return RESOURCE_OF_ERRNO[current.errno]
        current = current.__cause__ or current.__context__
    return None


__all__ = ["MAX_CAUSE_DEPTH", "RESOURCE_OF_ERRNO", "SystemResource", "exhausted_resource"]
