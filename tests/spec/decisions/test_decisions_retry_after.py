"""One Retry-After reading (spec.decisions.parse_retry_after) for the resilience layer and both HTTP clients.

The worker's client and `runtime.Client` used to parse the header themselves and accepted
"1.5" and "-5" (as 1.5 s and 0 s) where the resilience layer took neither; now all read it the
same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from hypothesis import given
from hypothesis import strategies as st

from runtime.client.errors import retry_after_s as client_retry_after_s
from runtime.resilience import retry_after_s as resilience_retry_after_s
from runtime.worker.client import _retry_after_s as worker_retry_after_s
from spec.decisions.rate_limit import parse_retry_after

_values = st.one_of(st.integers(-10, 10**6).map(str), st.floats(-10, 100).map(str), st.text(max_size=12),
                    st.just("Wed, 21 Oct 2015 07:28:00 GMT"))


@given(_values)
def test_every_reader_of_retry_after_agrees_with_the_spec(value: str) -> None:
    now = datetime.now(UTC)
    expected = parse_retry_after(value, now) if value else None
    dated = expected is not None and not value.strip().isdigit()  # a date: its wait depends on when it is read
    for reader in (client_retry_after_s, worker_retry_after_s):
        got = reader(value)
        assert (got is None) == (expected is None)
        if not dated:
            assert got == expected
    answer = httpx.Response(429, headers={"retry-after": value}) if value.isascii() and value.isprintable() else None
    if answer is not None:
        assert resilience_retry_after_s(answer, now) == parse_retry_after(value, now)


def test_fractions_and_negative_numbers_are_not_delay_seconds() -> None:
    assert worker_retry_after_s("1.5") is None and client_retry_after_s("-5") is None
    assert worker_retry_after_s("7") == client_retry_after_s("7") == 7.0


def test_digits_outside_ascii_are_not_delay_seconds() -> None:
    """Regression (hypothesis): ``"¹".isdigit()`` is true but ``int("¹")`` raises; RFC 9110's DIGIT is ASCII."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for value in ("¹", "٣", "²⁵"):
        assert parse_retry_after(value, now) is None
        assert worker_retry_after_s(value) is None and client_retry_after_s(value) is None
