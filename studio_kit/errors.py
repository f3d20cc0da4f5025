"""User-facing errors: every mistake a user can make is reported as a StudioError.

A StudioError names the file, the line or field, what was expected and how to fix it.
The CLI and the surfaces print ``str(err)``; they never show a traceback for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Problem:
    """One thing wrong with one place in one file."""

    file: str | None
    message: str
    line: int | None = None
    field: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}" if where else f"line {self.line}"
        parts = [where] if where else []
        if self.field:
            parts.append(f"[{self.field}]")
        text = (" ".join(parts) + ": " if parts else "") + self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class StudioError(Exception):
    """Base class for errors caused by user input or configuration, never by a bug."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.problems: list[Problem] = problems or [
            Problem(str(file) if file else None, message, line, field, hint)
        ]
        super().__init__(message)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @property
    def file(self) -> str | None:
        return self.problems[0].file if self.problems else None

    @property
    def line(self) -> int | None:
        return self.problems[0].line if self.problems else None

    @property
    def hint(self) -> str | None:
        return self.problems[0].hint if self.problems else None


class ValidationFailed(StudioError):
    """A project file does not match the schema."""


class ScriptError(StudioError):
    """A screenplay cannot be imported."""


class VaultError(StudioError):
    """The asset vault is missing an object or an object is corrupt."""


class EngineError(StudioError):
    """An engine rejected or failed a request (subclassed per failure kind by adapters).

    What the generation entry point reads off a failed call, with the defaults of an error
    that says nothing more (adapters set them on the instance)."""

    #: money the failed call already cost (e.g. a billed job whose delivery was rejected)
    cost: float = 0.0
    #: the engine's job id when it accepted the request
    remote_id: str | None = None
    #: accepted and still running or retryable at the engine: collect it on the next run
    transient: bool = False
    #: what may have been billed when the submission's fate is unknown (a lost response)
    at_risk: float = 0.0
    #: set by the generation entry point: the job stays pending there, stop the failover
    collect_later: bool = False


class EngineUserError(EngineError):
    """The request or the configuration is at fault: a bad request (4xx other than 408 and
    429), a prompt refused by moderation, a missing or refused key, an account out of
    credits. Asking again cannot help, so it is never retried; the message says what to
    fix (the router still tries the next engine of the chain, which may accept it)."""

    kind = "user"


class EngineOperationalError(EngineError):
    """The service is at fault or unreachable: 5xx, 408 and 429, timeouts, dropped
    connections, malformed answers, a job that failed or a delivery that does not decode.
    The adapter retries what is safe to retry (with backoff, ``Retry-After`` honoured) and
    then raises this; the router fails over to the next engine of the chain."""

    kind = "operational"


def error_kind(err: BaseException) -> str:
    """``"user"``, ``"operational"`` or ``""`` (an EngineError of neither kind)."""
    return getattr(err, "kind", "") if isinstance(err, EngineError) else ""


class BudgetError(StudioError):
    """Spending was attempted without the budget gate's approval, or over budget."""


@dataclass
class ProblemList:
    """Collects problems across many files (``studio validate``) before raising once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, err: StudioError) -> None:
        self.problems.extend(err.problems)

    def raise_if_any(self, message: str = "validation failed") -> None:
        if self.problems:
            raise ValidationFailed(message, problems=self.problems)
