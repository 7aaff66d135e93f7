"""Authentication errors: clear credentials, re-authenticate, retry once, never blindly (seed 4.5)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runtime.resilience import (
    AuthenticationFailedError,
    CallbackHook,
    Credentials,
    Escalation,
    Escalator,
    FakeClock,
    InMemoryCredentialStore,
    ReauthenticatingCaller,
    escalation_level,
)
from spec.machines import MACHINES
from spec.taxonomy import ErrorClass
from spec.trace import TraceEvent

REQUEST = httpx.Request("GET", "http://127.0.0.1/repo")
OLD, NEW = Credentials("old-token"), Credentials("new-token")


def unauthorized() -> httpx.HTTPStatusError:
    return httpx.HTTPStatusError("401", request=REQUEST, response=httpx.Response(401, request=REQUEST))


class Service:
    """Accepts only the credentials in ``valid``; records the credentials of every call."""

    def __init__(self, *valid: Credentials) -> None:
        self.valid = set(valid)
        self.calls: list[Credentials] = []

    async def get(self, credentials: Credentials) -> str:
        self.calls.append(credentials)
        if credentials not in self.valid:
            raise unauthorized()
        return "repo"


def _caller(store: InMemoryCredentialStore, provide: list[Credentials | None], **kw: object):  # type: ignore[no-untyped-def]
    asked: list[int] = []

    async def reauthenticate() -> Credentials | None:
        asked.append(1)
        return provide.pop(0) if provide else None

    got: list[Escalation] = []
    escalator = Escalator(hooks={level: [CallbackHook(got.append)] for level in range(1, 5)})
    events: list[TraceEvent] = []
    caller = ReauthenticatingCaller(
        store, reauthenticate, service="git", clock=FakeClock(), escalator=escalator, trace_sink=events.append
    )
    return caller, asked, got, events


def _final_state(events: list[TraceEvent]) -> str:
    run = MACHINES["auth_error"].bind()
    for e in events:
        assert run.fire(e.trigger).dest == e.dest
    return run.state


def test_rejected_credentials_are_cleared_and_replaced_then_retried_once() -> None:
    async def scenario() -> None:
        store = InMemoryCredentialStore(OLD)
        caller, asked, got, events = _caller(store, [NEW])
        service = Service(NEW)
        assert await caller.execute(service.get) == "repo"
        assert service.calls == [OLD, NEW]
        assert store.clears == 1 and store.get() == NEW and len(asked) == 1 and got == []
        assert _final_state(events) == "succeeded"

    asyncio.run(scenario())


def test_same_or_no_credentials_are_not_retried_blindly_and_escalate() -> None:
    async def scenario() -> None:
        for provided in ([OLD], [None], []):
            store = InMemoryCredentialStore(OLD)
            caller, _, got, events = _caller(store, list(provided))
            service = Service(NEW)
            with pytest.raises(AuthenticationFailedError, match="no new ones"):
                await caller.execute(service.get)
            assert service.calls == [OLD]
            assert store.get() is None
            assert [e.level for e in got] == [escalation_level(ErrorClass.AUTHENTICATION)]
            assert _final_state(events) == "escalated"

    asyncio.run(scenario())


def test_a_second_rejection_escalates_instead_of_looping() -> None:
    async def scenario() -> None:
        store = InMemoryCredentialStore(OLD)
        caller, asked, got, events = _caller(store, [NEW, Credentials("third")])
        service = Service()
        with pytest.raises(AuthenticationFailedError, match="rejected as well"):
            await caller.execute(service.get)
        assert service.calls == [OLD, NEW] and len(asked) == 1
        assert store.get() is None and len(got) == 1
        assert _final_state(events) == "escalated"

    asyncio.run(scenario())


def test_other_errors_pass_through_and_empty_store_logs_in_first() -> None:
    async def scenario() -> None:
        store = InMemoryCredentialStore()
        caller, asked, _, _ = _caller(store, [NEW])

        async def broken(credentials: Credentials) -> str:
            raise ConnectionRefusedError()

        with pytest.raises(ConnectionRefusedError):
            await caller.execute(broken)
        assert len(asked) == 1 and store.get() == NEW and store.clears == 0

        empty, _, _, _ = _caller(InMemoryCredentialStore(), [])
        with pytest.raises(AuthenticationFailedError, match="no credentials are cached"):
            await empty.execute(Service(NEW).get)

    asyncio.run(scenario())


def test_concurrent_rejections_share_one_reauthentication() -> None:
    async def scenario() -> None:
        store = InMemoryCredentialStore(OLD)
        caller, asked, _, _ = _caller(store, [NEW, Credentials("extra")])
        service = Service(NEW)
        results = await asyncio.gather(*(caller.execute(service.get) for _ in range(5)))
        assert results == ["repo"] * 5
        assert len(asked) == 1

    asyncio.run(scenario())


def test_credentials_never_show_their_secret() -> None:
    assert "old-token" not in repr(OLD)
    assert OLD.authorization_header() == {"Authorization": "Bearer old-token"}
