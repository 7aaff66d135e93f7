"""Bearer tokens read from files, so no secret has to be on a command line (visible in ``ps``).

An orchestrator's token file (``--token-file``, ``ORCH_TOKEN_FILE``) has one token per line,
optionally prefixed by its role::

    # comments and blank lines are ignored
    admin  0f3c...        # same as a bare token
    client 9b1e...
    worker 77aa...

A worker's token file (``--token-file``, ``RUNTIME_TOKEN_FILE``) holds its one token.
Errors name the file and the line; the token itself is never repeated in a message.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from runtime.errors import RuntimeConfigError

TOKEN_ROLES = ("admin", "client", "worker")
log = logging.getLogger("runtime.tokens")


def check_token(token: str, where: str) -> str:
    if not token or any(c.isspace() for c in token):
        raise RuntimeConfigError(f"{where}: tokens must be non-empty and contain no whitespace")
    return token


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeConfigError(f"{path}: cannot read the token file ({exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Not refused (CI checkouts and containers often run as one user), but worth knowing.
        log.warning("%s: token file is readable by other users; chmod 600 it", path)
    return text


def read_role_tokens(path: Path) -> dict[str, tuple[str, ...]]:
    """Tokens by role (``admin``, ``client``, ``worker``) from an orchestrator token file."""
    found: dict[str, list[str]] = {role: [] for role in TOKEN_ROLES}
    for number, raw in enumerate(_read(path).splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        where = f"{path}:{number}"
        if len(words) == 1:
            role, token = "admin", words[0]
        elif len(words) == 2 and words[0] in TOKEN_ROLES:
            role, token = words
        else:
            raise RuntimeConfigError(
                f"{where}: expected 'TOKEN' or 'ROLE TOKEN' with ROLE one of {', '.join(TOKEN_ROLES)}")
        found[role].append(check_token(token, where))
    return {role: tuple(tokens) for role, tokens in found.items()}


def read_single_token(path: Path) -> str:
    """A worker's token file: the first non-comment line."""
    for number, raw in enumerate(_read(path).splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            return check_token(line, f"{path}:{number}")
    raise RuntimeConfigError(f"{path}: the token file holds no token")
