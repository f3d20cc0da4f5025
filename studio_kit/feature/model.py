"""``features/<id>.yaml``: reading a feature file (every mistake with file and line) and
checking its running time against its format. The model is :mod:`studio_kit.models.feature`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import Problem, StudioError
from ..models.feature import RUNNING_TIME_S, Feature
from ..store.yamlio import load_yaml


def load_feature(path: str | Path) -> Feature:
    """Read and validate a feature file; every mistake is a StudioError with file and line."""
    path = Path(path)
    if not path.is_file():
        raise StudioError("no such feature file", file=path,
                          hint="create features/<id>.yaml (see docs/feature_bay.md)")
    data, lines = load_yaml(path)
    try:
        return Feature.model_validate(data or {})
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = tuple(e["loc"])
            problems.append(Problem(str(path), e["msg"], lines.get(loc) if lines else None,
                                    ".".join(str(p) for p in loc),
                                    "see docs/feature_bay.md for the fields"))
        raise StudioError(problems[0].message, problems=problems) from None


def check_running_time(feature: Feature, seconds: float, *, file: str | None = None) -> None:
    lo, hi = RUNNING_TIME_S[feature.format]
    if seconds > hi:
        raise StudioError(
            f"the feature runs {seconds / 60:.1f} min; a {feature.format.value} allows at most "
            f"{hi / 60:.0f} min", file=file, field="format",
            hint="drop episodes or choose a longer format")
    if seconds < lo and not feature.allow_short:
        raise StudioError(
            f"the feature runs {seconds / 60:.1f} min; a {feature.format.value} needs at least "
            f"{lo / 60:.0f} min", file=file, field="format",
            hint="add episodes, choose a shorter format or set allow_short: true")
