"""One papermill run of a parameterized notebook, kept as its own executed copy.

Episodes (``pipeline.notebook``), seasons (``scale.notebook``) and features
(``feature.notebook``) each run a notebook as the record of a production run; this is the
one place that names the copy, runs papermill and turns a failing cell into a StudioError.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import StudioError


def execute_recorded(notebook: str | Path, folder: Path, prefix: str,
                     params: dict[str, Any], *, what: str, cwd: Path,
                     kernel_name: str = "python3", timeout_s: int = 3600) -> Path:
    """Execute ``notebook`` with ``params`` into
    ``<folder>/<prefix>-<UTC time>-<pid>-<random>.ipynb`` (never overwriting an earlier
    run's copy) and return that path; a failing cell is a StudioError naming the copy."""
    import papermill as pm

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = folder / f"{prefix}-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(dest), parameters=params,
                            kernel_name=kernel_name, progress_bar=False,
                            execution_timeout=timeout_s, cwd=str(cwd))
    except pm.PapermillExecutionError as exc:
        raise StudioError(f"the {what} notebook failed in cell {exc.exec_count}: "
                          f"{exc.ename}: {exc.evalue}", file=dest,
                          hint="open the executed notebook to see the failing cell") from None
    return dest
