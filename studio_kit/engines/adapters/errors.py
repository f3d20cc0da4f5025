"""Typed engine failures: every adapter maps HTTP statuses and job failures onto these.

All are ``EngineError`` (so a ``StudioError``): the CLI prints them plainly and the router
fails over on any of them. ``transient`` says whether waiting and asking again can help
(the adapter already retried those before raising).

Each is also one of two kinds (``studio_kit.errors``): ``EngineUserError`` when the request
or the configuration must change (4xx other than 408/429, a refused prompt, a missing or
refused key, no credits: never retried) and ``EngineOperationalError`` when the service is
at fault (5xx, 408/429, timeouts, dropped connections, malformed answers, failed jobs,
rejected deliveries: retried where safe, then failed over). ``err.kind`` is ``"user"`` or
``"operational"``.

Every message and hint is passed through ``studio_kit.secrets.redact`` when the error is
made, so an engine that echoes the key in its error body cannot put it into the ledger,
the console or render.json through ``str(err)``.

Money: ``cost`` is what the engine has billed for the failed call (0 when nothing was
billed or it is not known); the ledger records it whatever the outcome.
"""

from __future__ import annotations

from ...errors import EngineError, EngineOperationalError, EngineUserError
from ...secrets import redact


class AdapterError(EngineError):
    """Base of the adapter errors; carries the engine name and the remote job id if known."""

    transient: bool = False

    def __init__(self, message: str, *, engine: str = "", remote_id: str | None = None,
                 status: int | None = None, cost: float = 0.0, **kw) -> None:
        if kw.get("hint"):
            kw["hint"] = redact(str(kw["hint"]))
        super().__init__(redact(str(message)), **kw)
        self.engine = engine
        self.remote_id = remote_id
        self.status = status
        self.cost = cost  # money already spent by the failed call (e.g. a rejected download)


class MissingKey(AdapterError, EngineUserError):
    """The API key's environment variable is not set."""


class AuthError(AdapterError, EngineUserError):
    """401/403: the key is wrong, expired or lacks permission."""


class InsufficientCredits(AdapterError, EngineUserError):
    """402 or a 'credits' message: the account cannot pay for the request."""


class RateLimited(AdapterError, EngineOperationalError):
    """429: too many requests; ``retry_after`` seconds from the Retry-After header."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(AdapterError, EngineOperationalError):
    """5xx or a dropped connection."""

    transient = True


class SubmissionUnconfirmed(ServerError):
    """The connection dropped after a submission was sent: the engine may have accepted it
    (and will bill it) but its job id never reached us, so it cannot be polled.

    Never resubmitted by the adapter. Services that list recent jobs with their input
    (Replicate, Luma: ``find_submission``) are asked first; a job found there is collected
    as if the answer had arrived (``on_submitted`` gets its id). Raised only when it cannot
    be found: ``at_risk`` is the most the engine may bill for it (the estimate); ``cost``
    stays 0 because the bill is not known. The caller records the call as unconfirmed with
    ``at_risk`` so spend reports can show it."""

    def __init__(self, message: str, *, at_risk: float = 0.0, **kw) -> None:
        super().__init__(message, **kw)
        self.at_risk = at_risk


class RequestTimeout(AdapterError, EngineOperationalError):
    """408: the server gave up waiting for the request and did not process it, so it is
    retried like a 429 (even a submission), after ``Retry-After`` when given."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ClientError(AdapterError, EngineUserError):
    """Another 4xx (405, 410, 415, ...): the engine will not take the request as sent."""


class InvalidRequest(AdapterError, EngineUserError):
    """400/413/422 that is not a moderation refusal: the input is wrong for this engine."""


class JobNotFound(AdapterError, EngineUserError):
    """404: the engine does not know this job (expired or never created)."""


class ModerationRefused(AdapterError, EngineUserError):
    """The engine refused the prompt or the output on content-policy grounds."""


class JobFailed(AdapterError, EngineOperationalError):
    """The remote job ran and failed (or was cancelled) for a non-policy reason."""


class EngineTimeout(AdapterError, EngineOperationalError):
    """The job did not finish within the adapter's deadline (it was cancelled if possible)."""

    transient = True


class MalformedResponse(AdapterError, EngineOperationalError):
    """The engine answered with something that is not the documented JSON."""

    transient = True


class DownloadRejected(AdapterError, EngineOperationalError):
    """The output is larger than the cap, not a video, or does not decode in full (every
    frame is decoded; frame count and duration are checked against what was asked).

    The job ran and was billed: ``cost`` is the billed cost. A failed, billed attempt:
    record it with its cost and fail over (asking again gets the same file)."""


class ResultUnavailable(AdapterError, EngineOperationalError):
    """The job was accepted (``remote_id``) but its result could not be collected this time:
    status polls, the result call or the download kept failing transiently (5xx, dropped
    connections, malformed answers, rate limits) after the adapter's retries.

    Contract for the caller (``generation.generate_shot``): do NOT record the call as
    failed and do NOT submit the request again or pay another engine for it. Keep the
    ledger call pending with ``remote_id`` (status ``submitted``) and record ``cost``;
    the next run calls ``run_job(request, vault, remote_id=remote_id)``, which polls and
    downloads without submitting.

    ``completed`` is True when the engine had reported the job finished (it is billed:
    ``cost`` is the billed cost); False when its state is unknown (``cost`` 0: not known
    to be billed yet). ``__cause__`` is the last underlying error. A job that stays
    uncollectable over several runs (say 3) may then be recorded failed with its cost and
    the shot failed over; until then, failing over would pay a second engine for it.
    """

    transient = True

    def __init__(self, message: str, *, completed: bool = False, **kw) -> None:
        super().__init__(message, **kw)
        self.completed = completed


__all__ = [
    "AdapterError", "AuthError", "ClientError", "DownloadRejected", "EngineTimeout",
    "InsufficientCredits", "InvalidRequest", "JobFailed", "JobNotFound", "MalformedResponse",
    "MissingKey", "ModerationRefused", "RateLimited", "RequestTimeout", "ResultUnavailable",
    "ServerError", "SubmissionUnconfirmed",
]
