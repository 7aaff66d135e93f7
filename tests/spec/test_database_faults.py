"""The database-fault classifier and health tracker (issue 14), without a database."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.database_faults import (
    FAULTS,
    DatabaseFault,
    DatabaseHealth,
    DatabaseState,
    classify_database_error,
    fault_kind,
)
from spec.policies import DEFAULT_POLICIES, DatabasePolicy
from spec.taxonomy import ErrorClass

POLICY = DEFAULT_POLICIES.database


@pytest.mark.parametrize(("name", "message", "fault"), [
    ("SQLITE_FULL", "database or disk is full", DatabaseFault.DISK_FULL),
    ("SQLITE_READONLY", "attempt to write a readonly database", DatabaseFault.READ_ONLY),
    ("SQLITE_READONLY_DBMOVED", "attempt to write a readonly database", DatabaseFault.READ_ONLY),
    ("SQLITE_BUSY", "database is locked", DatabaseFault.LOCKED),
    ("SQLITE_BUSY_SNAPSHOT", "database is locked", DatabaseFault.LOCKED),
    ("SQLITE_LOCKED", "database table is locked", DatabaseFault.LOCKED),
    ("SQLITE_CORRUPT", "database disk image is malformed", DatabaseFault.CORRUPT),
    ("SQLITE_NOTADB", "file is not a database", DatabaseFault.CORRUPT),
    ("SQLITE_IOERR_WRITE", "disk I/O error", DatabaseFault.CONNECTION_LOST),
    (None, "Cannot operate on a closed database.", DatabaseFault.CONNECTION_LOST),
    (None, "could not write: No space left on device", DatabaseFault.DISK_FULL),
    (None, "connection was closed in the middle of operation", DatabaseFault.CONNECTION_LOST),
])
def test_driver_errors_name_their_fault(name: str | None, message: str, fault: DatabaseFault) -> None:
    assert classify_database_error(name, message) is fault


@pytest.mark.parametrize(("sqlstate", "message", "fault"), [
    ("53100", "could not extend file: No space left on device", DatabaseFault.DISK_FULL),
    ("25006", "cannot execute INSERT in a read-only transaction", DatabaseFault.READ_ONLY),
    ("55P03", "canceling statement due to lock timeout", DatabaseFault.LOCKED),
    ("57P01", "terminating connection due to administrator command", DatabaseFault.CONNECTION_LOST),
    ("08006", "server closed the connection", DatabaseFault.CONNECTION_LOST),
    ("XX001", "invalid page in block 3", DatabaseFault.CORRUPT),
])
def test_postgresql_sqlstates_name_their_fault(sqlstate: str, message: str, fault: DatabaseFault) -> None:
    assert classify_database_error(sqlstate, message) is fault
    assert classify_database_error(sqlstate.lower(), "") is fault


@pytest.mark.parametrize(("sqlstate", "message"), [
    ("23505", "duplicate key value violates unique constraint \"workflows_pkey\""),
    ("42P01", "relation \"workflows\" does not exist"),
    ("42601", "syntax error at or near \"SELEC\""),
])
def test_postgresql_bugs_and_constraints_are_not_database_faults(sqlstate: str, message: str) -> None:
    assert classify_database_error(sqlstate, message) is None


@pytest.mark.parametrize(("name", "message"), [
    ("SQLITE_CONSTRAINT_UNIQUE", "UNIQUE constraint failed: workflows.id"),
    ("SQLITE_ERROR", "no such table: workflows"),
    (None, "near \"SELEC\": syntax error"),
])
def test_bugs_and_constraints_are_not_database_faults(name: str | None, message: str) -> None:
    assert classify_database_error(name, message) is None


@given(st.sampled_from(["SQLITE_FULL", "SQLITE_BUSY", "SQLITE_READONLY", "SQLITE_CORRUPT"]),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", max_size=12), st.text(max_size=40))
def test_an_extended_code_is_classified_by_its_primary_code(primary: str, suffix: str, message: str) -> None:
    extended = f"{primary}_{suffix}" if suffix else primary
    assert classify_database_error(extended, message) is classify_database_error(primary, "")


def test_every_fault_has_a_row_with_a_taxonomy_class() -> None:
    assert {row.fault for row in FAULTS} == set(DatabaseFault)
    assert fault_kind("disk_full").error_class is ErrorClass.SYSTEM
    assert fault_kind(DatabaseFault.LOCKED).category.retryable


def test_a_failure_faults_the_database_until_a_write_succeeds() -> None:
    health = DatabaseHealth(POLICY)
    assert health.writable and not health.trial_due(0.0) and health.describe(0.0) == {"state": "writable"}
    report = health.record_failure(DatabaseFault.DISK_FULL, "SQLITE_FULL: database or disk is full", 100.0)
    assert health.state is DatabaseState.FAULTED and report.fault is DatabaseFault.DISK_FULL
    assert "filesystem is full" in report.reason and "SQLITE_FULL" in report.reason and "free space" in report.reason
    assert report.retry_after_s == max(1, math.ceil(POLICY.recovery_delay_s(1)))
    assert not health.trial_due(100.0) and health.trial_due(100.0 + POLICY.recovery_delay_s(1))
    health.record_failure(DatabaseFault.DISK_FULL, "again", 101.0)
    described = health.describe(103.0)
    assert described["failedWrites"] == 2 and described["faultedForS"] == 3.0 and described["fault"] == "disk_full"
    assert health.record_success(104.0) is True
    assert health.writable and health.record_success(105.0) is False
    with pytest.raises(ValueError, match="writable"):
        health.report(105.0)


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1e9))
@example(6, 7.258526014465152)  # regression: float noise in next_trial_at - now made Retry-After 11, not 10
def test_retry_after_follows_the_recovery_backoff_and_never_drops_below_one_second(failures: int, now: float) -> None:
    health = DatabaseHealth(POLICY)
    for n in range(min(failures, 30)):
        report = health.record_failure(DatabaseFault.LOCKED, "busy", now)
        assert report.retry_after_s == max(1, math.ceil(POLICY.recovery_delay_s(n + 1)))
        assert 1 <= report.retry_after_s <= math.ceil(POLICY.trial_max_s)


def test_lock_polls_grow_to_their_cap_and_a_reversed_range_is_refused() -> None:
    waits = [POLICY.lock_poll_s(n) for n in range(20)]
    assert waits[0] == POLICY.lock_poll_min_s and waits[-1] == POLICY.lock_poll_max_s and waits == sorted(waits)
    with pytest.raises(ValidationError, match="lock_poll_max_s"):
        DatabasePolicy(lock_poll_min_s=1.0, lock_poll_max_s=0.5)
