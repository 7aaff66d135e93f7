"""Which orchestrator URL to use among replicas (issue 16): the one that answered, then the next."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.failover import EndpointChoice

URLS = st.lists(st.integers(1024, 65535).map(lambda p: f"http://127.0.0.1:{p}"), min_size=1, max_size=5,
                unique=True)


@given(URLS, st.lists(st.integers(0, 10)))
def test_every_attempt_tries_each_url_once_starting_with_the_one_that_answered_last(
    urls: list[str], answers: list[int],
) -> None:
    choice = EndpointChoice(urls)
    for answer in answers:
        url = urls[answer % len(urls)]
        choice.answered(url)
        order = choice.attempts()
        assert order[0] == url == choice.current
        assert sorted(order) == sorted(urls)
        # the order is the configured one, wrapped around at the URL in use
        start = urls.index(url)
        assert order == urls[start:] + urls[:start]


def test_no_url_or_the_same_one_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EndpointChoice([])
    with pytest.raises(ValueError, match="must differ"):
        EndpointChoice(["http://a:1/", "http://a:1"])


def test_a_failed_url_in_use_moves_the_choice_to_the_next_and_a_failed_other_one_does_not() -> None:
    choice = EndpointChoice(["http://a:1", "http://b:2", "http://c:3"])
    choice.failed("http://b:2")
    assert choice.current == "http://a:1"
    choice.failed("http://a:1")
    assert choice.current == "http://b:2"
    choice.failed("http://b:2")
    choice.failed("http://c:3")
    assert choice.current == "http://a:1"  # wrapped around
