"""Change notices between replicas (runtime.store.change_feed): they survive the trip through a payload,
a foreign payload on the channel is refused naming the channel, and a notice is delivered only when the
transaction that sent it commits."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.store.change_feed import CHANNEL, MAX_NAMED_WORKERS, ChangeListener, ChangeNotice, send_notice
from runtime.store.database import Database
from spec.policies import DatabasePolicy
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

ids = st.integers(min_value=1, max_value=2**62)


worker_ids = st.one_of(st.none(), st.lists(st.text(min_size=1, max_size=128), max_size=MAX_NAMED_WORKERS).map(tuple))


@given(st.text(min_size=1, max_size=20), st.booleans(), st.one_of(st.none(), st.tuples(ids, ids)), worker_ids)
def test_a_notice_survives_its_payload(replica: str, queued: bool, events: tuple[int, int] | None,
                                       workers: tuple[str, ...] | None) -> None:
    notice = ChangeNotice(replica, queued, events, workers)
    assert ChangeNotice.from_payload(notice.to_payload()) == notice


def test_a_notice_naming_the_most_workers_fits_a_postgresql_payload() -> None:
    """pg_notify refuses 8000 bytes or more, and the transaction with it; a stored worker id is at most
    128 characters of ``[A-Za-z0-9._:-]`` (`runtime.protocol.RegisterRequest`), none escaped in JSON."""
    notice = ChangeNotice("r" * 64, True, (2**62, 2**62), ("w" * 128,) * MAX_NAMED_WORKERS)
    assert len(notice.to_payload().encode()) < 8000


def test_a_notice_from_a_replica_that_names_no_workers_is_read() -> None:
    assert ChangeNotice.from_payload('{"r": "a", "q": false, "e": null}') == ChangeNotice("a", False, None)


@pytest.mark.parametrize("payload", ["", "not json", "[]", '{"r": "a"}', '{"r": "a", "q": true, "e": [1]}',
                                     '{"r": "a", "q": true, "e": null, "w": "w1"}',
                                     '{"r": "a", "q": true, "e": null, "w": [1]}'])
def test_a_foreign_payload_is_refused_naming_the_channel(payload: str) -> None:
    with pytest.raises(ValueError, match=f"not a change notice on {CHANNEL!r}"):
        ChangeNotice.from_payload(payload)


async def test_a_notice_arrives_when_its_transaction_commits_and_never_after_a_rollback(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    db = Database.at(postgres_server.location(name))
    await db.open()
    received: list[ChangeNotice] = []
    connected = asyncio.Event()
    listener = ChangeListener(postgres_server.location(name), DatabasePolicy(), on_notice=received.append,
                              on_connected=connected.set, retry_s=0.1)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(connected.wait(), 30)
        with pytest.raises(RuntimeError, match="rolled back"):
            async with db.write() as session:
                await send_notice(session, ChangeNotice("a", True, None))
                raise RuntimeError("rolled back")
        async with db.write() as session:
            await send_notice(session, ChangeNotice("b", False, (3, 5)))
        for _ in range(600):
            if received:
                break
            await asyncio.sleep(0.05)
        # Notices come in commit order: one from the rolled-back transaction would have come first.
        assert received == [ChangeNotice("b", False, (3, 5))]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()
        postgres_server.drop_databases([name])
