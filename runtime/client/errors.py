"""The client library's exceptions: one small hierarchy, each message saying what to do next.

Messages name the URL, the HTTP status and the server's ``{"error": {"field", "reason"}}``; they
never contain the bearer token (`runtime.client.credentials` keeps it out of every repr).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from spec.decisions.rate_limit import parse_retry_after


class ClientError(Exception):
    """Base class of every error `runtime.Client` and `runtime.SyncClient` raise."""


class ConnectionFailedError(ClientError):
    """The orchestrator could not be reached at the client's URL (refused, unresolvable, timed out)."""


class CredentialError(ClientError):
    """No token, an unreadable token file, or the orchestrator refused the token (401/403)."""


class RequestRefusedError(ClientError):
    """The orchestrator (or the client, before sending: `status` is ``None``) refused a request as invalid."""

    def __init__(self, message: str, *, status: int | None, field: str | None, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.reason = reason


class NotFoundError(RequestRefusedError):
    """An id the orchestrator does not know (404)."""


class ServerError(ClientError):
    """The orchestrator answered 5xx or 429: it could not do it now; retry after `retry_after_s` when given."""

    def __init__(self, message: str, *, status: int, reason: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s


class PartialBatchError(ClientError):
    """A `submit_many` larger than one batch failed after some batches were committed: `created` lists them."""

    def __init__(self, message: str, *, created: list[object], cause: ClientError) -> None:
        super().__init__(message)
        self.created = created
        self.cause = cause


class WaitTimeoutError(ClientError):
    """A workflow did not settle within the time the caller allowed."""


class WorkflowFailedError(ClientError):
    """The awaited workflow ended ``failed``: `code` and `error_message` are its task's error."""

    def __init__(self, message: str, *, workflow_id: str, code: str | None, error_message: str) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.code = code
        self.error_message = error_message


class StreamError(ClientError):
    """The event stream refused a subscription, or could not be resumed within the reconnect policy."""


def _error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """``(field, reason)`` from the orchestrator's error body (any other body: its start)."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        field = error.get("field")
        return (str(field) if field is not None else None), str(error.get("reason", ""))
    return None, str(body)[:200]


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds, read by the spec's one parser (`spec.decisions.rate_limit`)."""
    return parse_retry_after(value, datetime.now(UTC)) if value else None


def error_for_response(response: httpx.Response, credential_hint: str) -> ClientError:
    """The exception describing a non-2xx `response`; `credential_hint` says where the token came from."""
    field, reason = _error_detail(response)
    status = response.status_code
    where = f"{response.request.method} {response.request.url}"
    text = f"{where} answered {status}: {reason}" + (f" (field {field!r})" if field else "")
    if status == 401:
        return CredentialError(f"{text}; the orchestrator does not accept the token from {credential_hint}")
    if status == 403:
        return CredentialError(f"{text}; the token from {credential_hint} lacks this ability "
                               "(a client or admin token submits and reads)")
    if status == 404:
        return NotFoundError(text, status=status, field=field, reason=reason)
    if status == 429 or status >= 500:
        wait = retry_after_s(response.headers.get("Retry-After"))
        hint = f"; retry in {wait:g} s" if wait is not None else "; retry later"
        return ServerError(text + hint, status=status, reason=reason, retry_after_s=wait)
    return RequestRefusedError(text, status=status, field=field, reason=reason)
