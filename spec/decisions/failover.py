"""Which orchestrator URL a worker or client talks to, given several replicas (issue 16).

Sans-I/O. A caller configured with several orchestrator URLs (replicas behind no load balancer,
or several load balancers) keeps using the one that answers; when a request to it cannot be
delivered (connection refused, reset, timed out) it tries the next URL at once, in the order
configured, wrapping around, and stays with the first that answers. Only when every URL fails
is the request failed, and the caller's own retry policy (`BackoffPolicy`) takes over. An
answer, even an error answer, is an answer: a 4xx or 5xx from a replica is not a reason to
fail over (the replicas share one database, so another would answer the same).
"""

from __future__ import annotations

from collections.abc import Sequence


class EndpointChoice:
    """The URLs in use and in what order to try them."""

    def __init__(self, urls: Sequence[str]) -> None:
        cleaned = [url.rstrip("/") for url in urls]
        if not cleaned:
            raise ValueError("at least one orchestrator URL is needed")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"orchestrator URLs must differ, got {', '.join(cleaned)}")
        self.urls = tuple(cleaned)
        self._current = 0

    @property
    def current(self) -> str:
        return self.urls[self._current]

    def attempts(self) -> list[str]:
        """Every URL once, the one in use first: the order one request tries them in."""
        n = len(self.urls)
        return [self.urls[(self._current + i) % n] for i in range(n)]

    def answered(self, url: str) -> None:
        """`url` answered: use it from now on."""
        self._current = self.urls.index(url)

    def failed(self, url: str) -> None:
        """`url` could not be reached: if it is the one in use, the next one is (for a caller that
        retries on its own schedule, such as an event stream reconnecting)."""
        if url == self.current:
            self._current = (self._current + 1) % len(self.urls)


__all__ = ["EndpointChoice"]
