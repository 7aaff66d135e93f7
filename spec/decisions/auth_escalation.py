"""When authentication "fails repeatedly" (seed 4.5, Authentication Errors: "Immediate alert if
authentication fails repeatedly").

The seed's flow for a 401/403 clears the credentials, asks for new ones and retries once
(`spec.machines` ``auth_error``). So one rejection is routine -- a token expired -- and the
second rejection *in a row* of the same service's credentials means re-authentication did not
help: that is "repeatedly", and it escalates at once (no duration, "immediate"), at the
taxonomy's level for authentication errors. A success ends the streak; other errors (a timeout)
say nothing about the credentials and leave it as it is. One streak escalates once, so a service
that keeps refusing pages the on-call engineer once, not on every call.
"""

from __future__ import annotations

#: Consecutive rejections of one service's credentials that make "fails repeatedly".
REPEATED_AUTH_FAILURES = 2


class AuthFailureStreak:
    """Consecutive authentication failures of one service, and whether they just became repeated."""

    def __init__(self, threshold: int = REPEATED_AUTH_FAILURES) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.threshold = threshold
        self.count = 0

    def failed(self) -> bool:
        """One more rejection; True exactly when this one makes the streak repeated (escalate now)."""
        self.count += 1
        return self.count == self.threshold

    def succeeded(self) -> None:
        """The service accepted the credentials: the streak is over."""
        self.count = 0


__all__ = ["REPEATED_AUTH_FAILURES", "AuthFailureStreak"]
