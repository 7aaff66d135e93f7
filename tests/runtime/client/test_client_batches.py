"""How `submit_many` cuts its input into requests: order kept, every request within both limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.client import ClientError, SyncClient
from runtime.client.async_client import _BATCH_FRAME, _batches
from runtime.protocol import MAX_BODY_BYTES


@given(sizes=st.lists(st.integers(1, MAX_BODY_BYTES // 3), max_size=40), max_items=st.integers(1, 8))
def test_batches_keep_order_and_limits(sizes: list[int], max_items: int) -> None:
    items = [str(i).encode().ljust(size, b" ") for i, size in enumerate(sizes)]
    batches = list(_batches(items, max_items))
    assert [item for batch in batches for item in batch] == items
    for batch in batches:
        body = _BATCH_FRAME + sum(len(i) for i in batch) + len(batch) - 1
        assert 1 <= len(batch) <= max_items
        assert body <= MAX_BODY_BYTES
    # greedy: no two neighbouring batches would have fitted in one
    for first, second in zip(batches, batches[1:], strict=False):
        joined = first + second[:1]
        assert len(joined) > max_items or _BATCH_FRAME + sum(len(i) + 1 for i in joined) - 1 > MAX_BODY_BYTES


def test_a_batch_fills_the_body_limit_to_the_byte() -> None:
    first = b"a" * 1000
    fits = b"b" * (MAX_BODY_BYTES - _BATCH_FRAME - len(first) - 1)  # "[first,fits]" is exactly the limit
    assert list(_batches([first, fits], 10)) == [[first, fits]]
    assert list(_batches([first, fits + b"b"], 10)) == [[first], [fits + b"b"]]


@pytest.mark.anyio
async def test_sync_client_refuses_to_run_inside_an_event_loop() -> None:
    with pytest.raises(ClientError, match="use `await` with runtime.Client"):
        SyncClient("http://127.0.0.1:8080", "t")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
