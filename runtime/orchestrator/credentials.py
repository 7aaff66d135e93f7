"""Who is calling: configured credentials with roles, and the per-worker tokens registration issues.

Three kinds of configured bearer token (``OrchestratorSettings``):

* **admin** (``tokens``, CLI ``--token``) — everything, including DELETE of any worker;
* **client** (``client_tokens``) — submit workflows, read tasks/workflows/workers/alerts, subscribe;
* **worker** (``worker_tokens``) — register, and nothing else.

Registration answers with a ``workerToken`` that only that worker id holds; heartbeats, polls,
reports and deregistration for worker W need W's token (or an admin token). Only a SHA-256 of a
worker token is stored, so a copy of the database holds no usable secret.

Authentication is a hash and two dictionary look-ups — no I/O — so an unauthenticated request
costs the same small, constant work whatever it carries (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from runtime.protocol import WORKER_TOKEN_PREFIX


class Role(StrEnum):
    ADMIN = "admin"
    CLIENT = "client"
    #: A configured worker credential (may only register), or a worker's own token (``worker_id`` set).
    WORKER = "worker"


@dataclass(frozen=True, slots=True)
class Credential:
    """An authenticated caller."""

    role: Role
    #: The worker a per-worker token belongs to; ``None`` for configured tokens.
    worker_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_act_for(self, worker_id: str) -> bool:
        """Worker operations (heartbeat, poll, reports, deregister) for `worker_id`."""
        return self.is_admin or (self.role is Role.WORKER and self.worker_id == worker_id)

    @property
    def sees_leases(self) -> bool:
        """Lease holders and fencing tokens are shown to admins and workers, never to clients."""
        return self.role is not Role.CLIENT


def token_digest(token: str) -> str:
    """What the store keeps of a worker token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_worker_token() -> str:
    return WORKER_TOKEN_PREFIX + secrets.token_urlsafe(32)


class CredentialStore:
    """Configured tokens by role, plus the live per-worker tokens (by digest).

    Kept in step with the store's workers table: loaded at startup (:meth:`load_workers`), updated
    after each committed registration or deregistration, and, with several replicas on one
    database, after the other replicas' too (`runtime.orchestrator.replica_feed` reads the tokens
    of the workers their notices name).
    """

    def __init__(self, admin: Iterable[str] = (), client: Iterable[str] = (), worker: Iterable[str] = ()) -> None:
        self._configured: dict[str, Role] = {}
        self.configure(admin, client, worker)
        self._workers: dict[str, str] = {}  # token digest -> worker id
        self._digest_of: dict[str, str] = {}  # worker id -> token digest

    def configure(self, admin: Iterable[str], client: Iterable[str], worker: Iterable[str]) -> None:
        """Replace the configured tokens (at startup, or on a configuration reload)."""
        configured: dict[str, Role] = {}
        # An admin token listed twice keeps its highest role: worker < client < admin.
        for role, tokens in ((Role.WORKER, worker), (Role.CLIENT, client), (Role.ADMIN, admin)):
            for token in tokens:
                configured[token_digest(token)] = role
        self._configured = configured

    def authenticate(self, token: str | None) -> Credential | None:
        if not token:
            return None
        digest = token_digest(token)
        role = self._configured.get(digest)
        if role is not None:
            return Credential(role)
        worker_id = self._workers.get(digest)
        if worker_id is not None and hmac.compare_digest(self._digest_of.get(worker_id, ""), digest):
            return Credential(Role.WORKER, worker_id)
        return None

    def load_workers(self, digests: Iterable[tuple[str, str]]) -> None:
        """``(worker_id, token_digest)`` of every worker that may still act."""
        self._workers.clear()
        self._digest_of.clear()
        for worker_id, digest in digests:
            self.grant(worker_id, digest)

    def grant(self, worker_id: str, digest: str) -> None:
        """`worker_id`'s token is now the one with `digest`; an earlier one stops working."""
        self.revoke(worker_id)
        self._workers[digest] = worker_id
        self._digest_of[worker_id] = digest

    def revoke(self, worker_id: str) -> None:
        old = self._digest_of.pop(worker_id, None)
        if old is not None:
            self._workers.pop(old, None)
