"""The leader lock on a real PostgreSQL server (runtime.store.leadership): one holder at a time, released
with the holder's session, and a session the server ended is noticed by the next confirmation."""

from __future__ import annotations

import pytest

from runtime.store.leadership import LeaderLock, LeaderLockError
from spec.policies import DatabasePolicy, LeadershipPolicy
from tests.postgres_server import PASSWORD, PostgresServer

pytestmark = pytest.mark.anyio

POLICY = LeadershipPolicy()


def _lock(server: PostgresServer, name: str) -> LeaderLock:
    return LeaderLock(server.location(name), POLICY, DatabasePolicy())


async def test_one_replica_holds_the_lock_and_another_gets_it_once_the_holder_lets_go(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    first, second = _lock(postgres_server, name), _lock(postgres_server, name)
    try:
        assert await first.try_take(5.0)
        assert await first.try_take(5.0), "taking it again in the same session is still holding it"
        assert not await second.try_take(5.0)
        assert await first.confirm(5.0) and not await second.confirm(5.0)
        await first.close()
        assert await second.try_take(5.0) and await second.confirm(5.0)
    finally:
        await first.close()
        await second.close()
        postgres_server.drop_databases([name])


async def test_a_session_the_server_ended_is_no_lock_and_the_next_attempt_reconnects(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    holder, standby = _lock(postgres_server, name), _lock(postgres_server, name)
    try:
        assert await holder.try_take(5.0)
        postgres_server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'orchestrator-leader-election'", database=name)
        with pytest.raises(LeaderLockError) as lost:
            await holder.confirm(5.0)
        assert PASSWORD not in str(lost.value) and name in str(lost.value)
        assert await standby.try_take(5.0), "the ended session released the lock"
        assert not await holder.try_take(5.0), "the holder reconnects and finds the lock taken"
    finally:
        await holder.close()
        await standby.close()
        postgres_server.drop_databases([name])


async def test_the_leader_session_carries_keepalive_settings_within_the_lease(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    lock = _lock(postgres_server, name)
    try:
        assert await lock.try_take(5.0)
        connection = lock._connection
        assert connection is not None
        idle, interval, count = POLICY.server_keepalive()
        shown = [await connection.fetchval(f"SHOW tcp_keepalives_{key}") for key in ("idle", "interval", "count")]
        assert shown == [str(idle), str(interval), str(count)]
        assert await connection.fetchval("SHOW tcp_user_timeout") == str(int(POLICY.lease_s * 1000))
    finally:
        await lock.close()
        postgres_server.drop_databases([name])
