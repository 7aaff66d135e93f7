"""Database recovery while running (issue 14): trial writes until a faulted database is writable again,
and the periodic consistency validation.

A failed write marks `Database.health` faulted (`spec.database_faults`) and the orchestrator
stops being ready. This task then waits for the next trial time the health object names
(`DatabasePolicy.recovery_delay_s`), tries a write that changes nothing, and repeats until one commits;
that commit (like any other) marks the database writable, truncates the WAL, and ready is 200
again, without a restart. Client writes in the meantime are tried too and answer 503 with the
cause while the fault lasts.

Every ``DatabasePolicy.consistency_interval_s`` :func:`run_consistency_checks` validates the
store (`runtime.store.consistency`); findings are logged as errors with their escalation level
and shown on ``/health/ready``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import DatabaseUnavailableError
from runtime.store.changes import ChangeLog
from runtime.store.consistency import Finding, find_inconsistencies
from runtime.store.runs import touch_run
from spec.database_faults import INCONSISTENCY_ESCALATION_LEVEL, INVARIANTS

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator")


async def run_database_recovery(orch: Orchestrator) -> None:
    db = orch.db
    health = db.health
    while True:
        await db.faulted.wait()
        if health.writable:
            db.faulted.clear()
            continue
        await asyncio.sleep(health.wait_s(db.clock()))
        if health.writable or not health.trial_due(db.clock()):
            continue
        try:
            await trial_write(orch)
        except Exception:  # not a database fault: log it and keep trying at the slowest pace
            log.exception("database trial write failed unexpectedly")
            await asyncio.sleep(db.policy.trial_max_s)


async def trial_write(orch: Orchestrator) -> bool:
    """One write that changes nothing; True if it committed."""
    run_id = orch.run_id

    async def _touch(session: AsyncSession, _changes: ChangeLog) -> None:
        if run_id is not None:
            await touch_run(session, run_id)

    try:
        await orch.transact(_touch)
    except DatabaseUnavailableError as exc:
        log.info("database trial write failed, next in %d s: %s", exc.retry_after_s, exc.reason)
        return False
    return True


async def check_consistency(orch: Orchestrator) -> list[Finding]:
    """One validation; its findings are logged, escalated and kept for ``/health/ready``."""
    async with orch.db.read() as session:
        findings = await find_inconsistencies(session, sqlite=orch.db.is_sqlite)
    orch.consistency_findings = findings
    orch.consistency_checked_at = orch.now()
    for finding in findings:
        log.error("consistency: %s violated (%s): %s; escalation level %s", finding.invariant.value,
                  INVARIANTS[finding.invariant], finding.detail, INCONSISTENCY_ESCALATION_LEVEL)
    return findings


async def run_consistency_checks(orch: Orchestrator) -> None:
    while True:
        await asyncio.sleep(orch.policies.database.consistency_interval_s)
        await check_consistency(orch)
