"""Typed engine failures: every adapter maps HTTP statuses and job failures onto these.

All are ``EngineError`` (so a ``StudioError``): the CLI prints them plainly and the router
fails over on any of them. ``transient`` says whether waiting and asking again can help
(the adapter already retried those before raising).
"""

from __future__ import annotations

from ...errors import EngineError


class AdapterError(EngineError):
    """Base of the adapter errors; carries the engine name and the remote job id if known."""

    transient: bool = False

    def __init__(self, message: str, *, engine: str = "", remote_id: str | None = None,
                 status: int | None = None, cost: float = 0.0, **kw) -> None:
        super().__init__(message, **kw)
        self.engine = engine
        self.remote_id = remote_id
        self.status = status
        self.cost = cost  # money already spent by the failed call (e.g. a rejected download)


class MissingKey(AdapterError):
    """The API key's environment variable is not set."""


class AuthError(AdapterError):
    """401/403: the key is wrong, expired or lacks permission."""


class InsufficientCredits(AdapterError):
    """402 or a 'credits' message: the account cannot pay for the request."""


class RateLimited(AdapterError):
    """429: too many requests; ``retry_after`` seconds from the Retry-After header."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(AdapterError):
    """5xx or a dropped connection."""

    transient = True


class InvalidRequest(AdapterError):
    """400/413/422 that is not a moderation refusal: the input is wrong for this engine."""


class JobNotFound(AdapterError):
    """404: the engine does not know this job (expired or never created)."""


class ModerationRefused(AdapterError):
    """The engine refused the prompt or the output on content-policy grounds."""


class JobFailed(AdapterError):
    """The remote job ran and failed (or was cancelled) for a non-policy reason."""


class EngineTimeout(AdapterError):
    """The job did not finish within the adapter's deadline (it was cancelled if possible)."""

    transient = True


class MalformedResponse(AdapterError):
    """The engine answered with something that is not the documented JSON."""

    transient = True


class DownloadRejected(AdapterError):
    """The output is larger than the cap, not a video, or does not decode."""


__all__ = [
    "AdapterError", "AuthError", "DownloadRejected", "EngineTimeout", "InsufficientCredits",
    "InvalidRequest", "JobFailed", "JobNotFound", "MalformedResponse", "MissingKey",
    "ModerationRefused", "RateLimited", "ServerError",
]
