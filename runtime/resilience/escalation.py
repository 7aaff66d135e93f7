"""Escalation levels 1-4 (seed 4.5, "Escalation Procedures") as pluggable hooks.

The levels and their actions come from ``AlertPolicy.escalation_levels``. What a level *does*
is configuration: log it, call a function, POST it to a webhook (an on-call pager, a chat
channel) or run a command with it on stdin. Webhook URLs often carry a token in their path or
query, so a hook names its target only redacted (scheme, host and port) in errors and logs. A
failing hook is logged and reported, never raised: escalation runs on the path of
a call that has already failed, and must not replace that call's error with its own.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from runtime.resilience.errors import EscalationDeliveryError, ResilienceConfigError
from spec.policies import DEFAULT_POLICIES, AlertPolicy

log = logging.getLogger("runtime.resilience.escalation")

#: Python log level per escalation level: level 1 is routine recovery, level 4 an incident.
_LOG_LEVELS = {1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}


@dataclass(frozen=True)
class Escalation:
    """One escalation: which level, the policy's action for it, and what happened."""

    level: int
    action: str
    reason: str
    source: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "action": self.action,
            "reason": self.reason,
            "source": self.source,
            "details": {k: _jsonable(v) for k, v in self.details.items()},
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class EscalationHook(Protocol):
    """Something that acts on an escalation; raises :class:`EscalationDeliveryError` on failure."""

    async def __call__(self, escalation: Escalation) -> None: ...


class LogHook:
    """Writes the escalation to a logger, louder for higher levels."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else log

    async def __call__(self, escalation: Escalation) -> None:
        self.logger.log(
            _LOG_LEVELS.get(escalation.level, logging.WARNING),
            "escalation level %d (%s) from %s: %s",
            escalation.level,
            escalation.action,
            escalation.source,
            escalation.reason,
            extra={"escalation": escalation.to_json()},
        )


class CallbackHook:
    """Calls a plain or async function with the escalation."""

    def __init__(self, callback: Callable[[Escalation], Awaitable[None] | None]) -> None:
        self.callback = callback

    async def __call__(self, escalation: Escalation) -> None:
        result = self.callback(escalation)
        if inspect.isawaitable(result):
            await result


def redacted_url(url: str) -> str:
    """`url` without what may be secret (user info, path, query, fragment): ``https://host:port/…``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid url>"
    if not parsed.host:
        return "<url without a host>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


class _WebhookUrlFilter(logging.Filter):
    """Rewrites httpx's own request log lines (logger ``httpx``, INFO) to show webhook URLs redacted."""

    def __init__(self) -> None:
        super().__init__("httpx")
        self.targets: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.targets and isinstance(record.args, tuple):
            record.args = tuple(self.targets.get(str(arg), arg) if isinstance(arg, httpx.URL | str) else arg
                                for arg in record.args)
        return True


_WEBHOOK_URLS = _WebhookUrlFilter()
logging.getLogger("httpx").addFilter(_WEBHOOK_URLS)


class WebhookHook:
    """POSTs the escalation as JSON to a configured URL; any non-2xx answer is a delivery failure.

    The URL itself is never shown (it may hold a token): errors name :attr:`target`, the redacted form.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise ResilienceConfigError("webhook url is not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ResilienceConfigError(f"webhook url {redacted_url(url)} must be an absolute http:// or https:// URL")
        if timeout_s <= 0:
            raise ResilienceConfigError(f"webhook timeout_s must be > 0, got {timeout_s}")
        self._url = url
        #: What errors and logs name instead of the URL.
        self.target = redacted_url(url)
        _WEBHOOK_URLS.targets[str(parsed)] = self.target
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._client = client

    async def __call__(self, escalation: Escalation) -> None:
        try:
            if self._client is not None:
                response = await self._client.post(
                    self._url, json=escalation.to_json(), headers=self.headers, timeout=self.timeout_s
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                    response = await client.post(self._url, json=escalation.to_json(), headers=self.headers)
        except httpx.HTTPError as exc:
            # httpx's message may quote the URL: name the exception type only.
            raise EscalationDeliveryError(self.target, type(exc).__name__) from None
        if not response.is_success:
            raise EscalationDeliveryError(self.target, f"HTTP {response.status_code} {response.reason_phrase}")

    def __repr__(self) -> str:
        return f"WebhookHook({self.target})"


class CommandHook:
    """Runs a configured command with the escalation as JSON on its stdin; a non-zero exit is a failure.

    The escalation goes on stdin, never on the command line, where every user of the machine
    could read it. The command runs without a shell, for at most `timeout_s`.
    """

    def __init__(self, argv: Sequence[str], *, timeout_s: float = 10.0) -> None:
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ResilienceConfigError("escalation command must be a non-empty list of non-empty strings")
        if timeout_s <= 0:
            raise ResilienceConfigError(f"escalation command timeout_s must be > 0, got {timeout_s}")
        self.argv = tuple(argv)
        self.timeout_s = timeout_s

    async def __call__(self, escalation: Escalation) -> None:
        target = f"command {self.argv[0]!r}"
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise EscalationDeliveryError(target, f"cannot start it ({exc.strerror or exc})") from None
        payload = json.dumps(escalation.to_json()).encode()
        try:
            _, stderr = await asyncio.wait_for(process.communicate(payload), timeout=self.timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise EscalationDeliveryError(target, f"did not finish within {self.timeout_s:g} s") from None
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-300:]
            raise EscalationDeliveryError(target, f"exited with {process.returncode}" + (f": {tail}" if tail else ""))

    def __repr__(self) -> str:
        return f"CommandHook({self.argv[0]!r})"


@dataclass(frozen=True)
class EscalationOutcome:
    """What happened to one escalation: the record and the hooks that failed to deliver it."""

    escalation: Escalation
    failures: tuple[EscalationDeliveryError, ...]

    @property
    def delivered(self) -> bool:
        return not self.failures


class Escalator:
    """Routes escalations of levels 1-4 to the hooks configured for each level.

    Every escalation is logged (unless ``log=False``) and then handed to the hooks of its
    level. It is also kept in :attr:`history` (bounded) so an endpoint or a test can show what
    was escalated.
    """

    def __init__(
        self,
        policy: AlertPolicy = DEFAULT_POLICIES.alerts,
        *,
        hooks: Mapping[int, Sequence[EscalationHook]] | None = None,
        history_limit: int = 1000,
        log: bool = True,
    ) -> None:
        self.policy = policy
        self._actions = {e.level: e.action for e in policy.escalation_levels}
        self._hooks: dict[int, list[EscalationHook]] = {level: [] for level in self._actions}
        for level, level_hooks in (hooks or {}).items():
            self._check_level(level)
            self._hooks[level].extend(level_hooks)
        self._log_hook: EscalationHook | None = LogHook() if log else None
        self.history_limit = history_limit
        self.history: list[Escalation] = []

    @classmethod
    def from_webhook_urls(
        cls,
        urls: Mapping[int, Sequence[str]],
        *,
        policy: AlertPolicy = DEFAULT_POLICIES.alerts,
        timeout_s: float = 10.0,
    ) -> Escalator:
        """An escalator that logs every level and POSTs each level to its configured URLs.

        ``urls`` is configuration (for example ``{3: ["https://pager.example/hook"], 4: [...]}``);
        a bad level or URL is refused with a :class:`ResilienceConfigError` naming it.
        """
        escalator = cls(policy)
        for level, level_urls in urls.items():
            for url in level_urls:
                escalator.add_hook(level, WebhookHook(url, timeout_s=timeout_s))
        return escalator

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(sorted(self._actions))

    def action(self, level: int) -> str:
        self._check_level(level)
        return self._actions[level]

    def hooks(self, level: int) -> tuple[EscalationHook, ...]:
        """The hooks of `level`, besides logging (what configuration routed there)."""
        self._check_level(level)
        return tuple(self._hooks[level])

    def add_hook(self, level: int, hook: EscalationHook) -> None:
        self._check_level(level)
        self._hooks[level].append(hook)

    def add_webhook(self, url: str, *, levels: Sequence[int] | None = None, timeout_s: float = 10.0) -> WebhookHook:
        """POST escalations of `levels` (all levels when omitted) to `url`."""
        hook = WebhookHook(url, timeout_s=timeout_s)
        for level in levels if levels is not None else self.levels:
            self.add_hook(level, hook)
        return hook

    async def escalate(
        self, level: int, reason: str, *, source: str, details: Mapping[str, Any] | None = None
    ) -> EscalationOutcome:
        """Run every hook of `level`; delivery failures are logged and returned, not raised."""
        self._check_level(level)
        escalation = Escalation(level, self._actions[level], reason, source, dict(details or {}))
        self.history.append(escalation)
        del self.history[: max(0, len(self.history) - self.history_limit)]
        hooks = ([self._log_hook] if self._log_hook is not None else []) + self._hooks[level]
        failures: list[EscalationDeliveryError] = []
        for hook in hooks:
            try:
                await hook(escalation)
            except EscalationDeliveryError as exc:
                log.error("escalation level %d from %s not delivered: %s", level, source, exc)
                failures.append(exc)
            except Exception as exc:  # a broken callback must not mask the original failure
                log.exception("escalation hook %r failed for level %d", hook, level)
                failures.append(EscalationDeliveryError(repr(hook), f"{type(exc).__name__}: {exc}"))
        return EscalationOutcome(escalation, tuple(failures))

    def _check_level(self, level: int) -> None:
        if level not in self._actions:
            known = ", ".join(str(x) for x in sorted(self._actions))
            raise ResilienceConfigError(f"unknown escalation level {level}; the alert policy defines levels {known}")
