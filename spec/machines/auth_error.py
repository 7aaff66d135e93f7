"""Authentication-error handling (seed 4.5, "Authentication Errors" and the flowchart's D branch).

Never retried blindly: credentials are cleared, re-authentication is requested, and only a
call made with *new* credentials is tried again, once. A second 401 escalates.
"""

from __future__ import annotations

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import ADMIN, CLIENT, LOGGER, SERVICE

CLI, SVC, ADM, LOG = CLIENT, SERVICE, ADMIN, LOGGER

AUTH_ERROR = MachineSpec(
    name="auth_error",
    title="Authentication-error handling",
    seed_section="4.5",
    description="On 401/403 clear credentials, ask for new ones, retry once with them, otherwise escalate.",
    initial="ready",
    states=(
        StateSpec("ready", "No request sent yet.", StateRole.RESTING),
        StateSpec("requesting", "Request in flight with cached credentials."),
        StateSpec("awaiting_credentials", "Credentials cleared; re-authentication requested."),
        StateSpec("retrying", "Request in flight with new credentials."),
        StateSpec("succeeded", "A response arrived.", StateRole.TERMINAL),
        StateSpec("errored", "A different error; the caller's other handlers take it.", StateRole.TERMINAL),
        StateSpec("escalated", "Authentication failed for good; administrators alerted.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("request", "ready", "requesting", "Send the request.", call(CLI, SVC, "request()")),
        transition("succeed", "requesting", "succeeded", "Credentials accepted.", reply(SVC, CLI, "response")),
        transition("unauthorized", "requesting", "awaiting_credentials", "401/403: credentials rejected.",
                   reply(SVC, CLI, "401 Unauthorized"), step(CLI, "clearCachedCredentials()"),
                   call(CLI, ADM, "requestReauthentication()")),
        transition("credentials_provided", "awaiting_credentials", "retrying", "New credentials arrived.",
                   reply(ADM, CLI, "new credentials"), step(CLI, "updateCredentials()"),
                   call(CLI, SVC, "retry request()")),
        transition("no_credentials", "awaiting_credentials", "escalated", "Nobody provided credentials.",
                   reply(ADM, CLI, "no credentials"), call(CLI, LOG, 'error("Authentication failed")'),
                   call(CLI, ADM, "escalate(authenticationFailure)")),
        transition("other_error", ("requesting", "retrying"), "errored", "Not an authentication error.",
                   reply(SVC, CLI, "error")),
        transition("retry_succeeded", "retrying", "succeeded", "The new credentials work.",
                   reply(SVC, CLI, "response")),
        transition("unauthorized_again", "retrying", "escalated", "Rejected again: escalate, do not loop.",
                   reply(SVC, CLI, "401 Unauthorized"), call(CLI, LOG, 'error("Authentication failed")'),
                   call(CLI, ADM, "escalate(authenticationFailure)")),
    ),
)
