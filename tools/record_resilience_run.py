"""Record a real run of the resilience layer for the 4.5 "spec vs actual" sections (issue 6, §3).

``python tools/record_resilience_run.py`` (part of ``nox -s record``) serves scripted answers
from a real HTTP server on 127.0.0.1 and calls it through `runtime.resilience.ExternalService`
(breaker -> retry -> rate limit -> httpx), on the spec's policies with the delays shortened so the
run takes seconds. It writes the traces of the retry, breaker and rate-limit machines to
``docs/recorded/<story>.jsonl`` for the ``spec_vs_actual`` directive:

* ``retry_backoff``: a call answered 503, 503, then 200 (two retries on the backoff schedule);
* ``circuit_breaker``: calls against a service that keeps answering 503 until the breaker trips,
  one rejected while open, then a trial after the open duration that succeeds;
* ``rate_limit``: a 429 with ``Retry-After: 1``, then a 200;
* ``auth_error``: a 401 for the cached token, re-authentication, then a 200 with the new token.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
for _path in (str(ROOT), str(TOOLS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from record_reference_run import write_recording  # noqa: E402

from runtime.resilience import (  # noqa: E402
    CircuitOpenError,
    Credentials,
    ExternalService,
    InMemoryCredentialStore,
    ReauthenticatingCaller,
)
from spec.policies import DEFAULT_POLICIES, Policies  # noqa: E402
from spec.trace import TraceEvent  # noqa: E402

#: The spec's policies with every delay divided by this, so the recording takes seconds.
SPEED_UP = 20.0


def quick_policies() -> Policies:
    """DEFAULT_POLICIES with the backoff and breaker delays shortened (counts and thresholds kept)."""
    p = DEFAULT_POLICIES
    backoff = p.backoff.model_copy(update={"base_delay_s": p.backoff.base_delay_s / SPEED_UP,
                                           "max_delay_s": p.backoff.max_delay_s / SPEED_UP})
    breaker = p.circuit_breaker.model_copy(update={"open_duration_s": p.circuit_breaker.open_duration_s / SPEED_UP /
                                                   SPEED_UP})
    return p.model_copy(update={"backoff": backoff, "circuit_breaker": breaker})


class ScriptedService:
    """Answers per path, in order; the last answer repeats. Thread-safe: the server is threaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}

    def script(self, path: str, *answers: tuple[int, dict[str, str]]) -> None:
        with self._lock:
            self.scripts[path] = list(answers)

    def next_answer(self, path: str) -> tuple[int, dict[str, str]]:
        with self._lock:
            answers = self.scripts.get(path) or [(404, {})]
            return answers.pop(0) if len(answers) > 1 else answers[0]


@contextmanager
def serve(service: ScriptedService) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            status, headers = service.next_answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def record(base_url: str, service: ScriptedService) -> dict[str, list[TraceEvent]]:
    """Run the three scenarios; return each story's events."""
    policies = quick_policies()
    recorded: dict[str, list[TraceEvent]] = {"retry_backoff": [], "circuit_breaker": [], "rate_limit": [],
                                             "auth_error": []}
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:

        async def get(path: str) -> int:
            response = await http.get(path)
            response.raise_for_status()
            return response.status_code

        # Retry: 503, 503, 200.
        service.script("/flaky", (503, {}), (503, {}), (200, {}))
        flaky = ExternalService("flaky", policies=policies, trace_sink=recorded["retry_backoff"].append)
        await flaky.call(get, "/flaky")

        # Breaker: keep failing until it trips, one call rejected while open, a successful trial.
        service.script("/down", (503, {}))
        down = ExternalService("down", policies=policies, trace_sink=recorded["circuit_breaker"].append)
        for _ in range(policies.circuit_breaker.failure_threshold):
            try:
                await down.call(get, "/down")
            except httpx.HTTPStatusError:
                pass
        try:
            await down.call(get, "/down")
        except CircuitOpenError:
            pass
        await asyncio.sleep(policies.circuit_breaker.open_duration_s)
        service.script("/down", (200, {}))
        await down.call(get, "/down")

        # Rate limit: 429 with Retry-After, then 200.
        service.script("/limited", (429, {"Retry-After": "1"}), (200, {}))
        limited = ExternalService("limited", policies=policies, trace_sink=recorded["rate_limit"].append)
        await limited.call(get, "/limited")

        # Authentication: the cached token is refused once; the re-authentication hook gives a new one.
        service.script("/private", (401, {}), (200, {}))

        async def new_token() -> Credentials | None:
            return Credentials("fresh-token")

        caller = ReauthenticatingCaller(InMemoryCredentialStore(Credentials("stale-token")), new_token,
                                        service="private", trace_sink=recorded["auth_error"].append)

        async def authorised_get(credentials: Credentials) -> int:
            response = await http.get("/private", headers=credentials.authorization_header())
            response.raise_for_status()
            return response.status_code

        await caller.execute(authorised_get)
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recorded",
                        help="directory for <story>.jsonl (default docs/recorded)")
    args = parser.parse_args(argv)
    service = ScriptedService()
    with serve(service) as url:
        recorded = asyncio.run(record(url, service))
    args.out.mkdir(parents=True, exist_ok=True)
    for story, events in recorded.items():
        # Each story keeps its own machines; the others (e.g. the rate limiter inside every retry) are left out.
        if not write_recording(args.out, story, events):
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
