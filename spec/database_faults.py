"""Database faults while running (issue 14, seed "Error Recovery Workflow"): what failed, and when to try again.

Sans-I/O: :func:`classify_database_error` reads a driver's error name and message (SQLite's
``SQLITE_FULL``, ``SQLITE_BUSY``, ...; PostgreSQL's SQLSTATE such as ``53100``, issue 16; any
driver's text) and names one :class:`DatabaseFault`;
:class:`DatabaseHealth` remembers the last fault and, from `DatabasePolicy` and an explicit
``now``, says whether the database is writable, what to tell a caller (reason, Retry-After) and
when the next trial write is due. The runtime only catches the exception, asks, and acts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from spec.policies import DatabasePolicy
from spec.taxonomy import ErrorCategory, ErrorClass, category


class DatabaseFault(StrEnum):
    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    LOCKED = "locked"
    CORRUPT = "corrupt"
    CONNECTION_LOST = "connection_lost"


class DatabaseState(StrEnum):
    WRITABLE = "writable"
    FAULTED = "faulted"


@dataclass(frozen=True)
class FaultKind:
    """One row of the fault table: its taxonomy class, what to tell a caller, and the remedy."""

    fault: DatabaseFault
    error_class: ErrorClass
    cause: str
    fix: str
    #: Close the pooled connections so the next write opens fresh ones.
    reconnect: bool

    @property
    def category(self) -> ErrorCategory:
        return category(self.error_class)


FAULTS: tuple[FaultKind, ...] = (
    FaultKind(DatabaseFault.DISK_FULL, ErrorClass.SYSTEM, "the database's filesystem is full",
              "free space on the database's filesystem; writes resume by themselves", reconnect=False),
    FaultKind(DatabaseFault.READ_ONLY, ErrorClass.SYSTEM, "the database is read-only",
              "make the database file, its directory and its -wal/-shm files writable", reconnect=True),
    FaultKind(DatabaseFault.LOCKED, ErrorClass.NETWORK, "another process holds the database's write lock",
              "retry; if it persists, stop the other process that has the database open", reconnect=False),
    FaultKind(DatabaseFault.CORRUPT, ErrorClass.SYSTEM, "the database file is corrupt",
              "stop the orchestrator and restore the database from a backup", reconnect=True),
    FaultKind(DatabaseFault.CONNECTION_LOST, ErrorClass.NETWORK, "the database connection was lost",
              "check that the database file (or server) is still there; connections are reopened", reconnect=True),
)

#: SQLite primary result codes (the part of an extended name before the second ``_``).
_SQLITE_CODES: dict[str, DatabaseFault] = {
    "SQLITE_FULL": DatabaseFault.DISK_FULL,
    "SQLITE_READONLY": DatabaseFault.READ_ONLY,
    "SQLITE_PERM": DatabaseFault.READ_ONLY,
    "SQLITE_BUSY": DatabaseFault.LOCKED,
    "SQLITE_LOCKED": DatabaseFault.LOCKED,
    "SQLITE_CORRUPT": DatabaseFault.CORRUPT,
    "SQLITE_NOTADB": DatabaseFault.CORRUPT,
    "SQLITE_IOERR": DatabaseFault.CONNECTION_LOST,
    "SQLITE_CANTOPEN": DatabaseFault.CONNECTION_LOST,
    "SQLITE_PROTOCOL": DatabaseFault.LOCKED,
}

#: PostgreSQL SQLSTATE codes, exact (Appendix A of PostgreSQL's manual).
_SQLSTATES: dict[str, DatabaseFault] = {
    "53100": DatabaseFault.DISK_FULL,  # disk_full
    "25006": DatabaseFault.READ_ONLY,  # read_only_sql_transaction
    "42501": DatabaseFault.READ_ONLY,  # insufficient_privilege
    "55P03": DatabaseFault.LOCKED,  # lock_not_available (lock_timeout, NOWAIT)
    "40P01": DatabaseFault.LOCKED,  # deadlock_detected
    "XX001": DatabaseFault.CORRUPT,  # data_corrupted
    "XX002": DatabaseFault.CORRUPT,  # index_corrupted
    "57P01": DatabaseFault.CONNECTION_LOST,  # admin_shutdown (a terminated backend)
    "57P02": DatabaseFault.CONNECTION_LOST,  # crash_shutdown
    "57P03": DatabaseFault.CONNECTION_LOST,  # cannot_connect_now (starting up, shutting down)
}
#: PostgreSQL SQLSTATE classes (the first two characters), when the exact code is not listed.
_SQLSTATE_CLASSES: dict[str, DatabaseFault] = {
    "08": DatabaseFault.CONNECTION_LOST,  # connection exception
}
_SQLSTATE_LENGTH = 5

#: Messages of drivers that give no code, lower case, checked in this order.
_MESSAGES: tuple[tuple[str, DatabaseFault], ...] = (
    ("disk is full", DatabaseFault.DISK_FULL),
    ("no space left", DatabaseFault.DISK_FULL),
    ("disk full", DatabaseFault.DISK_FULL),
    ("readonly", DatabaseFault.READ_ONLY),
    ("read-only", DatabaseFault.READ_ONLY),
    ("database is locked", DatabaseFault.LOCKED),
    ("lock timeout", DatabaseFault.LOCKED),
    ("malformed", DatabaseFault.CORRUPT),
    ("not a database", DatabaseFault.CORRUPT),
    ("closed database", DatabaseFault.CONNECTION_LOST),
    ("connection", DatabaseFault.CONNECTION_LOST),
    ("disk i/o error", DatabaseFault.CONNECTION_LOST),
)


def fault_kind(fault: DatabaseFault | str) -> FaultKind:
    wanted = DatabaseFault(fault)
    for row in FAULTS:
        if row.fault is wanted:
            return row
    raise KeyError(wanted)  # pragma: no cover - FAULTS covers every DatabaseFault


def classify_database_error(error_name: str | None, message: str) -> DatabaseFault | None:
    """The fault behind a driver error, or None when it is not one (a bug, a constraint: a 500)."""
    if error_name:
        name = error_name.upper()
        if name.startswith("SQLITE_"):
            found = _SQLITE_CODES.get("_".join(name.split("_")[:2]))
        elif len(name) == _SQLSTATE_LENGTH and name.isalnum():
            found = _SQLSTATES.get(name) or _SQLSTATE_CLASSES.get(name[:2])
        else:
            found = None
        if found is not None:
            return found
    text = message.lower()
    for needle, fault in _MESSAGES:
        if needle in text:
            return fault
    return None


@dataclass(frozen=True)
class FaultReport:
    """What a refused write answers: 503, ``Retry-After`` and a sentence naming the cause and the fix."""

    fault: DatabaseFault
    reason: str
    retry_after_s: int


class DatabaseHealth:
    """Writable or faulted, from the outcomes of writes; every method takes ``now`` (seconds)."""

    def __init__(self, policy: DatabasePolicy) -> None:
        self.policy = policy
        self.state = DatabaseState.WRITABLE
        self.fault: DatabaseFault | None = None
        self.detail = ""
        self.since: float | None = None
        #: Consecutive failed writes since the last success.
        self.failures = 0
        self.next_trial_at: float | None = None

    @property
    def writable(self) -> bool:
        return self.state is DatabaseState.WRITABLE

    def record_failure(self, fault: DatabaseFault, detail: str, now: float) -> FaultReport:
        """A write failed with `fault`; return what to answer the caller."""
        if self.state is DatabaseState.WRITABLE:
            self.since = now
        self.state = DatabaseState.FAULTED
        self.fault = fault
        self.detail = detail
        self.failures += 1
        self.next_trial_at = now + self.policy.recovery_delay_s(self.failures)
        return self.report(now)

    def record_success(self, now: float) -> bool:
        """A write committed; True if that ended a fault (the caller then truncates the WAL)."""
        recovered = self.state is DatabaseState.FAULTED
        self.state = DatabaseState.WRITABLE
        self.fault = None
        self.detail = ""
        self.since = None
        self.failures = 0
        self.next_trial_at = None
        return recovered

    def trial_due(self, now: float) -> bool:
        return self.next_trial_at is not None and now >= self.next_trial_at

    def wait_s(self, now: float) -> float:
        """Seconds until the next trial write (0 when due or when writable)."""
        return 0.0 if self.next_trial_at is None else max(0.0, self.next_trial_at - now)

    def report(self, now: float) -> FaultReport:
        if self.fault is None:
            raise ValueError("the database is writable; there is no fault to report")
        kind = fault_kind(self.fault)
        reason = f"database unavailable: {kind.cause} ({self.detail}); {kind.fix}"
        # Rounded first: (now + 10.0) - now can be 10.000000000000002, which must not become 11.
        return FaultReport(self.fault, reason, max(1, math.ceil(round(self.wait_s(now), 9))))

    def describe(self, now: float) -> dict[str, object]:
        """The ``database`` entry of ``/health/ready``."""
        if self.fault is None:
            return {"state": self.state.value}
        report = self.report(now)
        return {"state": self.state.value, "fault": report.fault.value, "reason": report.reason,
                "faultedForS": round(now - (self.since or now), 3), "failedWrites": self.failures,
                "retryAfterS": report.retry_after_s}


class Invariant(StrEnum):
    """What the periodic consistency validation checks (issue 14); each finding names one."""

    INTEGRITY = "integrity"
    LEASE_WITHOUT_LIVE_WORKER = "lease_without_live_worker"
    RUNNING_COUNT = "running_count"
    SETTLED_WORKFLOW_WITH_OPEN_TASK = "settled_workflow_with_open_task"


INVARIANTS: dict[Invariant, str] = {
    Invariant.INTEGRITY: "the database passes SQLite's quick_check",
    Invariant.LEASE_WITHOUT_LIVE_WORKER: "every leased task's worker exists and is not deregistered or rejected",
    Invariant.RUNNING_COUNT: "a live worker's running count equals the number of tasks it holds leases of",
    Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK: "a completed or failed workflow has no queued or leased task",
}

#: Escalation level of a consistency finding: the store contradicts itself, cause unknown (level 3).
INCONSISTENCY_ESCALATION_LEVEL = category(ErrorClass.UNKNOWN).escalation_level
