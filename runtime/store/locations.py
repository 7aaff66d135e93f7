"""Where the store lives: a SQLite file (the embedded default) or a PostgreSQL database named by a URL (issue 16).

The ``db`` setting (``--db``, ``ORCH_DB``, ``db =`` in the config file) is read by
:func:`parse_location`: ``postgresql://user@host:port/dbname`` names a PostgreSQL database,
anything without a URL scheme is a SQLite file path. PostgreSQL is reached through asyncpg.

A password in the URL never reaches a log line, an error or a trace: a `PostgresLocation` prints
with it masked, and :meth:`PostgresLocation.redact` masks it in any driver message. Better still,
leave it out of the URL: asyncpg reads ``PGPASSWORD``, or a password file (``PGPASSFILE``,
``~/.pgpass``, or ``?passfile=PATH`` in the URL), so the secret is on no command line either.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: URL schemes that name PostgreSQL; the driver is always asyncpg.
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
DRIVER = "postgresql+asyncpg"
#: How a PostgreSQL URL is written, for error messages.
URL_FORM = "postgresql://user@host:port/dbname"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: ``scheme://user:PASSWORD@``: what a message about a URL that did not parse must not repeat.
_USERINFO_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url_password(text: str) -> str:
    """`text` with the password of any ``scheme://user:password@`` in it replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(r"\1***@", text)


class PostgresLocation:
    """A PostgreSQL database named by a URL; prints, compares and serialises with its password masked."""

    __slots__ = ("_url",)

    def __init__(self, url: URL) -> None:
        self._url = url

    @classmethod
    def parse(cls, text: str) -> PostgresLocation:
        """Parse ``postgresql://user[:password]@host[:port]/dbname[?option=value]`` or raise ValueError saying why."""
        shown = mask_url_password(text)
        try:
            url = make_url(text)
        except (ArgumentError, ValueError) as exc:
            reason = mask_url_password(str(exc))
            raise ValueError(f"{shown} is not a valid database URL ({reason}); write it as {URL_FORM}") from None
        if url.drivername not in POSTGRES_SCHEMES:
            raise ValueError(f"{shown}: the driver {url.drivername!r} is not supported; PostgreSQL is reached "
                             f"through asyncpg: write {URL_FORM}")
        if url.port is not None and not 0 < url.port < 65536:
            raise ValueError(f"{shown}: port {url.port} is out of range (1-65535)")
        if not url.database:
            raise ValueError(f"{shown} names no database; write it as {URL_FORM}")
        return cls(url.set(drivername=DRIVER))

    @property
    def url(self) -> URL:
        """The SQLAlchemy URL (asyncpg driver), password included: hand it to the engine, never to a log."""
        return self._url

    @property
    def password(self) -> str | None:
        return None if self._url.password is None else str(self._url.password)

    def redact(self, text: str) -> str:
        """`text` (a driver's message, say) with this location's password masked."""
        secret = self.password
        masked = mask_url_password(text)
        return masked.replace(secret, "***") if secret else masked

    def __str__(self) -> str:
        return self._url.set(drivername="postgresql").render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"PostgresLocation({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PostgresLocation) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Serialised masked: a dumped configuration is safe to print; the password is not in it.
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.plain_serializer_function_ser_schema(str))


def _validate(value: object) -> PostgresLocation:
    if isinstance(value, PostgresLocation):
        return value
    if isinstance(value, str):
        return PostgresLocation.parse(value)
    raise ValueError(f"expected a {URL_FORM} URL, got {type(value).__name__}")


#: What the ``db`` setting holds once read.
DatabaseLocation = Path | PostgresLocation


def parse_location(value: object) -> object:
    """The ``db`` setting as a `Path` (SQLite) or a `PostgresLocation`; other values are left to validation."""
    if isinstance(value, (Path, PostgresLocation)) or not isinstance(value, str):
        return value
    scheme = _SCHEME.match(value)
    if scheme is None:
        return Path(value)
    if scheme.group(1).lower() in POSTGRES_SCHEMES:
        return PostgresLocation.parse(value)
    raise ValueError(f"{mask_url_password(value)}: unsupported database URL scheme {scheme.group(1)!r}; "
                     f"pass a SQLite file path or {URL_FORM}")

