"""Structured, redacted logs (seed 4.1 ``Logger: setupOutputs()``, ``setupRedactors()``; issue 4 §2).

Each line is one JSON object carrying ``workflowId``, ``taskId`` and ``workerId``: the API binds
them per request in context variables (:func:`bind_ids`), and a log call can also pass them
explicitly as ``extra``. Redaction runs in the formatter on the finished text (message,
exception and extra fields), so nothing — a token in a traceback, an ``Authorization`` header
in an error message — reaches an output unredacted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from runtime.protocol import WORKER_TOKEN_PREFIX

WORKFLOW_ID: ContextVar[str | None] = ContextVar("workflowId", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("taskId", default=None)
WORKER_ID: ContextVar[str | None] = ContextVar("workerId", default=None)
#: The ids every JSON line carries (``null`` when unknown), in output order.
ID_FIELDS: Mapping[str, ContextVar[str | None]] = {"workflowId": WORKFLOW_ID, "taskId": TASK_ID, "workerId": WORKER_ID}

MASK = "***"
LOGGER_NAME = "runtime"

#: Secrets recognisable by their shape: credentials after a scheme or a secret-sounding key.
_PATTERNS = (
    # "Authorization: Bearer abc", "authorization=Basic abc", '"authorization": "Token abc"'
    re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;}]+"""),
    # A credential after its scheme as HTTP writes it ("Bearer abc"); lowercase prose ("bearer tokens") stays.
    re.compile(r"(\b(?:Bearer|Basic|BEARER|BASIC)\s+)[A-Za-z0-9._~+/=-]+"),
    # password=..., "token": "...", api_key: ..., secret=..., ?token=...
    re.compile(
        r"""(?i)(\b(?!fencing)[\w-]*(?:password|passwd|secret|token|api[_-]?key)["']?\s*[:=]\s*["']?)[^\s"'&,;}]+"""
    ),    # A per-worker token wherever it appears (the orchestrator issues them, so their shape is known).
    re.compile(rf"(\b){WORKER_TOKEN_PREFIX}[A-Za-z0-9_-]{{16,}}"),
)
#: Keys whose values are secrets whatever they look like (fencing tokens are counters, not secrets).
_SECRET_KEY = re.compile(r"(?i)^(?!fencing)[\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization)s?$")

#: ``LogRecord`` attributes that are not ``extra`` fields.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class Redactor:
    """Masks configured tokens and anything shaped like a credential.

    Tokens are added by every orchestrator of the process and never removed: masking a token
    that is no longer in use costs nothing, leaking one that still is would.
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._by_length: tuple[str, ...] = ()
        self.add_tokens(tokens)

    def add_tokens(self, tokens: Iterable[str]) -> None:
        with self._lock:
            self._tokens.update(t for t in tokens if t)
            # Longest first, so a token containing another is masked whole.
            self._by_length = tuple(sorted(self._tokens, key=len, reverse=True))

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(self._tokens)

    def redact(self, text: str) -> str:
        for token in self._by_length:
            if token in text:
                text = text.replace(token, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """`value` with every string inside it redacted (for JSON extra fields)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {str(k): MASK if _SECRET_KEY.match(str(k)) else self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))


def bind_ids(*, workflow_id: str | None = None, task_id: str | None = None, worker_id: str | None = None) -> None:
    """Set the ids later log lines of this context (one request, one task) carry."""
    WORKFLOW_ID.set(workflow_id)
    TASK_ID.set(task_id)
    WORKER_ID.set(worker_id)


def current_ids(record: logging.LogRecord | None = None) -> dict[str, str | None]:
    """The ids for a line: the record's own ``extra`` wins over the context's."""
    ids: dict[str, str | None] = {}
    for name, var in ID_FIELDS.items():
        explicit = getattr(record, name, None) if record is not None else None
        ids[name] = explicit if explicit is not None else var.get()
    return ids


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the three ids, extras, exception."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redactor.redact(record.getMessage()),
            **current_ids(record),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line and not key.startswith("_"):
                line[key] = MASK if _SECRET_KEY.match(key) else self.redactor.redact_value(value)
        exception = record.exc_text
        if not exception and record.exc_info:
            exception = self.formatException(record.exc_info)
        if exception:
            line["exception"] = self.redactor.redact(exception)
        if record.stack_info:
            line["stack"] = self.redactor.redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format, redacted, with the ids appended when known."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{k}={v}" for k, v in current_ids(record).items() if v is not None)
        return self.redactor.redact(f"{text} [{ids}]" if ids else text)


class RedactingFilter(logging.Filter):
    """Redacts the record itself, so handlers the record reaches after ours (the root logger's,
    a test's capture) never see the secret either: ``runtime`` handlers run before the root's."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redactor.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                setattr(record, key, MASK if _SECRET_KEY.match(key) else self.redactor.redact_value(value))
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it between tests)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(sys.stderr)
        self.addFilter(RedactingFilter(redactor))

    def emit(self, record: logging.LogRecord) -> None:
        # Not setStream(): it flushes the old stream, which a test runner may have closed already.
        self.stream = sys.stderr
        super().emit(record)


#: One redactor for the process: every orchestrator adds its tokens to it.
REDACTOR = Redactor()


def configure_logging(level: str, log_format: str, tokens: Iterable[str] = ()) -> logging.Handler:
    """Set up the ``runtime`` logger: one stderr handler in `log_format`, redacting `tokens`.

    Idempotent: a second orchestrator in the same process reuses the handler (switching its
    format if asked) and adds its tokens to the shared redactor.
    """
    if log_format not in ("json", "text"):
        raise ValueError(f"unknown log format {log_format!r}; use json or text")
    REDACTOR.add_tokens(tokens)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler(REDACTOR)
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter(REDACTOR) if log_format == "json" else TextFormatter(REDACTOR))
    return handler


__all__ = [
    "ID_FIELDS",
    "MASK",
    "REDACTOR",
    "TASK_ID",
    "WORKER_ID",
    "WORKFLOW_ID",
    "JsonFormatter",
    "RedactingFilter",
    "Redactor",
    "StderrHandler",
    "TextFormatter",
    "bind_ids",
    "configure_logging",
    "current_ids",
]
