"""Authentication-error handling (seed 4.5, "Authentication Errors" and the flowchart's D branch).

Never retried blindly: credentials are cleared, re-authentication is requested, and only a
call made with *new* credentials is tried again, once. A second 401 escalates.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import ADMIN, CLIENT, LOGGER, SERVICE

CLI, SVC, ADM, LOG = CLIENT, SERVICE, ADMIN, LOGGER


class AuthState(StrEnum):
    """The auth_error machine's states, named once for its table and every consumer."""

    READY = "ready"
    REQUESTING = "requesting"
    AWAITING_CREDENTIALS = "awaiting_credentials"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    ERRORED = "errored"
    ESCALATED = "escalated"


class AuthTrigger(StrEnum):
    """The auth_error machine's triggers, named once for its table and every consumer."""

    REQUEST = "request"
    SUCCEED = "succeed"
    UNAUTHORIZED = "unauthorized"
    CREDENTIALS_PROVIDED = "credentials_provided"
    NO_CREDENTIALS = "no_credentials"
    OTHER_ERROR = "other_error"
    RETRY_SUCCEEDED = "retry_succeeded"
    UNAUTHORIZED_AGAIN = "unauthorized_again"


S, T = AuthState, AuthTrigger

AUTH_ERROR = MachineSpec(
    name="auth_error",
    title="Authentication-error handling",
    seed_section="4.5",
    description="On 401/403 clear credentials, ask for new ones, retry once with them, otherwise escalate.",
    initial=S.READY,
    states=(
        StateSpec(S.READY, "No request sent yet.", StateRole.RESTING),
        StateSpec(S.REQUESTING, "Request in flight with cached credentials."),
        StateSpec(S.AWAITING_CREDENTIALS, "Credentials cleared; re-authentication requested."),
        StateSpec(S.RETRYING, "Request in flight with new credentials."),
        StateSpec(S.SUCCEEDED, "A response arrived.", StateRole.TERMINAL),
        StateSpec(S.ERRORED, "A different error; the caller's other handlers take it.", StateRole.TERMINAL),
        StateSpec(S.ESCALATED, "Authentication failed for good; administrators alerted.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.REQUEST, S.READY, S.REQUESTING, "Send the request.", call(CLI, SVC, "request()")),
        transition(T.SUCCEED, S.REQUESTING, S.SUCCEEDED, "Credentials accepted.", reply(SVC, CLI, "response")),
        transition(T.UNAUTHORIZED, S.REQUESTING, S.AWAITING_CREDENTIALS, "401/403: credentials rejected.",
                   reply(SVC, CLI, "401 Unauthorized"), step(CLI, "clearCachedCredentials()"),
                   call(CLI, ADM, "requestReauthentication()")),
        transition(T.CREDENTIALS_PROVIDED, S.AWAITING_CREDENTIALS, S.RETRYING, "New credentials arrived.",
                   reply(ADM, CLI, "new credentials"), step(CLI, "updateCredentials()"),
                   call(CLI, SVC, "retry request()")),
        transition(T.NO_CREDENTIALS, S.AWAITING_CREDENTIALS, S.ESCALATED, "Nobody provided credentials.",
                   reply(ADM, CLI, "no credentials"), call(CLI, LOG, 'error("Authentication failed")'),
                   call(CLI, ADM, "escalate(authenticationFailure)")),
        transition(T.OTHER_ERROR, (S.REQUESTING, S.RETRYING), S.ERRORED, "Not an authentication error.",
                   reply(SVC, CLI, "error")),
        transition(T.RETRY_SUCCEEDED, S.RETRYING, S.SUCCEEDED, "The new credentials work.",
                   reply(SVC, CLI, "response")),
        transition(T.UNAUTHORIZED_AGAIN, S.RETRYING, S.ESCALATED, "Rejected again: escalate, do not loop.",
                   reply(SVC, CLI, "401 Unauthorized"), call(CLI, LOG, 'error("Authentication failed")'),
                   call(CLI, ADM, "escalate(authenticationFailure)")),
    ),
)
