"""Authentication-error handling (seed 4.5, "Authentication Errors"), executing ``auth_error``.

A 401/403 is never retried blindly: the cached credentials are cleared, a re-authentication
hook is asked for new ones, and only a call with credentials *different* from the rejected ones
is tried again, once. No credentials, the same ones, or a second rejection escalate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from runtime.resilience.classify import classify, escalation_level
from runtime.resilience.clock import Clock, MonotonicClock
from runtime.resilience.errors import AuthenticationFailedError
from runtime.resilience.escalation import Escalator
from runtime.resilience.tracing import TraceSink, bind_traced, next_call_id
from spec.machines.auth_error import AuthTrigger
from spec.taxonomy import ErrorClass

T = TypeVar("T")

Classifier = Callable[[BaseException], ErrorClass]


@dataclass(frozen=True)
class Credentials:
    """A secret for one service; its repr never shows the secret (seed: logger redactors)."""

    token: str = field(repr=False)
    scheme: str = "Bearer"

    def authorization_header(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {self.token}"}

    def __repr__(self) -> str:
        return f"Credentials(scheme={self.scheme!r}, token=<redacted>)"


class CredentialStore(Protocol):
    """Where a client caches its credentials between calls."""

    def get(self) -> Credentials | None: ...

    def set(self, credentials: Credentials) -> None: ...

    def clear(self) -> None: ...


class InMemoryCredentialStore:
    """The simplest store: one process, one cached credential."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials
        #: How often the store was cleared (tests and diagnostics).
        self.clears = 0

    def get(self) -> Credentials | None:
        return self._credentials

    def set(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def clear(self) -> None:
        self._credentials = None
        self.clears += 1


#: Asked for new credentials after a rejection; ``None`` means nobody provided any.
ReauthenticationHook = Callable[[], Awaitable[Credentials | None]]


class ReauthenticatingCaller:
    """Calls ``fn(credentials)`` and handles a 401/403 the way the ``auth_error`` machine says."""

    def __init__(
        self,
        store: CredentialStore,
        reauthenticate: ReauthenticationHook,
        *,
        service: str = "service",
        clock: Clock | None = None,
        classifier: Classifier = classify,
        escalator: Escalator | None = None,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.store = store
        self.reauthenticate = reauthenticate
        self.service = service
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.classifier = classifier
        self.escalator = escalator
        self.trace_sink = trace_sink
        # Concurrent rejections share one re-authentication instead of each asking for its own.
        self._reauth_lock = asyncio.Lock()

    async def execute(self, fn: Callable[[Credentials], Awaitable[T]]) -> T:
        run = bind_traced(
            "auth_error",
            component=f"auth:{self.service}:{next_call_id()}",
            clock=self.clock,
            sink=self.trace_sink,
            data={"service": self.service},
        )
        used = self.store.get()
        if used is None:
            used = await self._obtain(rejected=None)
            if used is None:
                raise AuthenticationFailedError(self.service, "no credentials are cached and none were provided")
        run.fire(AuthTrigger.REQUEST)
        try:
            result = await fn(used)
        except Exception as exc:
            if self.classifier(exc) is not ErrorClass.AUTHENTICATION:
                run.fire(AuthTrigger.OTHER_ERROR)
                raise
            first_error: Exception = exc
        else:
            run.fire(AuthTrigger.SUCCEED)
            return result

        run.fire(AuthTrigger.UNAUTHORIZED)
        fresh = await self._obtain(rejected=used)
        if fresh is None:
            run.fire(AuthTrigger.NO_CREDENTIALS)
            await self._escalate("credentials were rejected and no new credentials were provided")
            raise AuthenticationFailedError(
                self.service, "credentials were rejected and re-authentication provided no new ones"
            ) from first_error
        run.fire(AuthTrigger.CREDENTIALS_PROVIDED)
        try:
            result = await fn(fresh)
        except Exception as exc:
            if self.classifier(exc) is not ErrorClass.AUTHENTICATION:
                run.fire(AuthTrigger.OTHER_ERROR)
                raise
            self._clear_if_current(fresh)
            run.fire(AuthTrigger.UNAUTHORIZED_AGAIN)
            await self._escalate("new credentials were rejected as well")
            raise AuthenticationFailedError(self.service, "the new credentials were rejected as well") from exc
        run.fire(AuthTrigger.RETRY_SUCCEEDED)
        return result

    async def _obtain(self, *, rejected: Credentials | None) -> Credentials | None:
        """Clear `rejected` and get different credentials (maybe from a concurrent re-authentication)."""
        async with self._reauth_lock:
            current = self.store.get()
            if current is not None and current != rejected:
                return current  # another call already re-authenticated
            if rejected is not None:
                self.store.clear()
            fresh = await self.reauthenticate()
            if fresh is None or fresh == rejected:
                return None  # the same credentials again would be a blind retry
            self.store.set(fresh)
            return fresh

    def _clear_if_current(self, credentials: Credentials) -> None:
        if self.store.get() == credentials:
            self.store.clear()

    async def _escalate(self, reason: str) -> None:
        level = escalation_level(ErrorClass.AUTHENTICATION)
        if self.escalator is None or level is None:
            return
        await self.escalator.escalate(
            level, f"authentication with {self.service!r} failed: {reason}", source=f"auth:{self.service}"
        )
