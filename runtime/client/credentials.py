"""Where the client's bearer token comes from, and the one object that holds it.

In order: the ``token`` argument, the ``token_file`` argument, the file named by
``$RUNTIME_CLIENT_TOKEN_FILE``, the variable ``$RUNTIME_CLIENT_TOKEN``. A token read from a file or
the environment is read again after a 401, so a rotated token is picked up without a restart
(as the worker's ``token_source`` does, docs/worker.md). The token never appears in a repr, a log
line or an exception: only where it came from does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.client.errors import CredentialError
from runtime.errors import RuntimeConfigError
from runtime.token_files import check_token, read_single_token

TOKEN_FILE_ENV = "RUNTIME_CLIENT_TOKEN_FILE"
TOKEN_ENV = "RUNTIME_CLIENT_TOKEN"


@dataclass(frozen=True)
class TokenSource:
    """Where the token is read from: ``argument``, a file, or an environment variable."""

    origin: str
    file: Path | None = None
    env: str | None = None

    def read(self) -> str:
        if self.file is not None:
            try:
                return read_single_token(self.file)
            except RuntimeConfigError as exc:  # names the file and line, never the token
                raise CredentialError(str(exc)) from None
        value = os.environ.get(self.env or "")
        if not value:
            raise CredentialError(f"${self.env} is empty or unset")
        try:
            return check_token(value, f"${self.env}")
        except RuntimeConfigError as exc:
            raise CredentialError(str(exc)) from None


class Credential:
    """The bearer token and where it came from; its repr shows the origin only."""

    def __init__(self, token: str | None = None, token_file: str | Path | None = None) -> None:
        if token is not None:
            try:
                self._token = check_token(token, "the token argument")
            except RuntimeConfigError as exc:
                raise CredentialError(str(exc)) from None
            self.source: TokenSource | None = None
            self.origin = "the token argument"
            return
        if token_file is not None:
            self.source = TokenSource(f"token file {token_file}", file=Path(token_file))
        elif os.environ.get(TOKEN_FILE_ENV):
            path = Path(os.environ[TOKEN_FILE_ENV])
            self.source = TokenSource(f"token file {path} (${TOKEN_FILE_ENV})", file=path)
        elif os.environ.get(TOKEN_ENV):
            self.source = TokenSource(f"${TOKEN_ENV}", env=TOKEN_ENV)
        else:
            raise CredentialError(f"no token: pass token=... or token_file=..., or set ${TOKEN_FILE_ENV} "
                                  f"(a file holding a client or admin token) or ${TOKEN_ENV}")
        self.origin = self.source.origin
        self._token = self.source.read()

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def reread(self) -> bool:
        """Read the token again (after a 401); True if it changed, so the request is worth repeating."""
        if self.source is None:
            return False
        token = self.source.read()
        changed = token != self._token
        self._token = token
        return changed

    def __repr__(self) -> str:
        return f"Credential(from {self.origin})"
