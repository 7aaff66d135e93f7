"""The client library: submit workflows, wait for their results, follow their events (issue 12).

``from runtime import Client, SyncClient``; the exceptions are all `ClientError`s. Docs:
docs/client.md. The wire models are `runtime.protocol`'s.
"""

from __future__ import annotations

from runtime.client.async_client import Client
from runtime.client.errors import (
    ClientError,
    ConnectionFailedError,
    CredentialError,
    NotFoundError,
    PartialBatchError,
    RequestRefusedError,
    ServerError,
    StreamError,
    WaitTimeoutError,
    WorkflowFailedError,
)
from runtime.client.sync_client import SyncClient

__all__ = [
    "Client",
    "ClientError",
    "ConnectionFailedError",
    "CredentialError",
    "NotFoundError",
    "PartialBatchError",
    "RequestRefusedError",
    "ServerError",
    "StreamError",
    "SyncClient",
    "WaitTimeoutError",
    "WorkflowFailedError",
]
