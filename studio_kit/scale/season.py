"""A season rendered on an executor: the coordinator pays, the workers render, one ledger.

``render_season(project, episodes, executor=...)``:

1. **Paid takes first, on the coordinator** (``pipeline.episode.produce_paid_takes``): every
   shot whose route has a paid engine goes through the one shot path here, against the
   project's ledger (leases, Gate A, failover, QC), so each paid call is decided from the
   ledger and recorded once, before anything is submitted.
2. **Each episode is one task**: the coordinator stores the series' source files and a
   snapshot of the ledger in the vault and submits their hashes. A worker rebuilds the
   series in a scratch folder from the vault (a shared folder, or the object store of
   ``STUDIO_VAULT_URL``), renders the episode with ``paid_calls=False`` (a paid request with
   no take in the vault is refused, never sent) into its private copy of the ledger, stores
   every output in the vault and returns hashes and the new ledger rows.
3. **The coordinator records**: one ``render`` run per episode in the project's ledger with
   the worker's rows (stage results, QC scores, free engine calls), the outputs copied from
   the vault into ``<out>/episode-NN/`` and ``render.json`` pointing at them - the same
   files an in-process render leaves. A worker that dies mid-task is replaced by Dask and
   the task runs again (its finished stages are vault hits); only the task that returns is
   recorded, so nothing is recorded twice.

``season.json`` in the output folder follows the run (episodes x stages, status, spend,
failures) for the season dashboard (``widgets.season_dashboard``).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..pipeline.episode import (
    NOT_PAID_ON_WORKER,
    RenderOptions,
    produce_paid_takes,
    render_episode,
)
from ..project.series_folder import Project
from ..settings import settings
from ..store.hashing import file_hash
from ..store.vault import Vault
from ..store.yamlio import atomic_copy, atomic_write_text
from .executor import InProcessExecutor

#: ledger tables whose rows a worker's render adds (merged by the coordinator)
MERGED_TABLES = ("stage_results", "qc_scores", "engine_calls")
SEASON_FILE = "season.json"


class EpisodeTask(BaseModel):
    """Everything a worker needs, by hash: no path of the coordinator's machine is read
    unless the vault is a shared folder (``vault_root``)."""

    episode: str
    options_json: str
    project_files: dict[str, str] = Field(description="relative path -> object hash")
    ledger: str = Field(description="object hash of the ledger snapshot")
    baseline: dict[str, int] = Field(description="table -> highest id in the snapshot")
    vault_root: str | None = None
    vault_url: str | None = None


class EpisodeOutcome(BaseModel):
    episode: str
    worker: str
    seconds: float
    files: dict[str, str] = Field(description="path under episode-NN/ -> object hash")
    render_json: str
    rows: dict[str, list[dict[str, Any]]]
    scratch_root: str
    scratch_out: str
    phases: dict[str, float] = Field(default_factory=dict, description=(
        "seconds per phase on the worker: series (rebuilt from the vault), render, store "
        "(outputs into the vault), rows (the new ledger rows read)"))


class ShotsTask(BaseModel):
    """Per-shot pictures of one episode (``render_season(shot_tasks=True)``): generation and
    QC of a chain of shots (a shot that continues the previous one goes with it)."""

    episode: EpisodeTask
    shots: list[str]


class ShotsOutcome(BaseModel):
    episode: str
    shots: list[str]
    worker: str
    seconds: float
    rows: dict[str, list[dict[str, Any]]]


class SeasonEpisode(BaseModel):
    episode: str
    status: str = "queued"  # queued | pictures | rendering | done | failed
    error: str = ""
    worker: str = ""
    run_id: int | None = None
    master: str | None = None
    prores: str | None = None
    paid_takes: int = 0
    spend: float = 0.0
    seconds: float = 0.0
    stages: dict[str, dict[str, int]] = Field(default_factory=dict, description=(
        "stage -> {'run': n, 'cached': n, 'failed': n}"))
    shot_workers: list[str] = Field(default_factory=list, description=(
        "with shot tasks: the worker of each shot task, in shot order"))
    phases: dict[str, float] = Field(default_factory=dict, description=(
        "seconds per phase: the worker's (see EpisodeOutcome.phases), then the "
        "coordinator's prepare (paid takes, ledger snapshot) and record"))


class SeasonResult(BaseModel):
    project: str
    series: str
    executor: str
    workers: int
    started: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    seconds: float = 0.0
    episodes: list[SeasonEpisode] = Field(default_factory=list)
    total_cost: float = 0.0

    @property
    def ok(self) -> bool:
        return all(e.status == "done" for e in self.episodes)

    def episode(self, ep: str) -> SeasonEpisode:
        return next(e for e in self.episodes if e.episode == ep)


def parse_episodes(spec: str | None, available: list[str]) -> list[str]:
    """``01-03``, ``1,3,5``, ``02`` or None (every episode) -> episode ids, in order."""
    have = sorted(available)
    if not spec:
        return have
    chosen: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                ids = [f"{n:02d}" for n in range(a, b + 1)]
            else:
                ids = [f"{int(part):02d}"]
        except ValueError:
            raise StudioError(f"--episodes {spec!r}: {part!r} is not an episode or a range",
                              field="--episodes", hint="e.g. --episodes 01-03 or 1,3") from None
        for i in ids:
            if i not in have:
                raise StudioError(f"--episodes {spec!r}: there is no episode {i}",
                                  field="--episodes", hint=f"episodes: {', '.join(have)}")
            if i not in chosen:
                chosen.append(i)
    return chosen


# -- the worker's side ----------------------------------------------------------------
@contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


#: this worker process's rebuilt series, by the season's file set: (scratch folder, series
#: root, {relative path: (size, mtime_ns) as written}); a root is taken by one task at a
#: time (a worker with several threads builds one per concurrent task)
_SERIES: dict[str, list[tuple[Path, Path, dict[str, tuple[int, int]]]]] = {}
_SERIES_LOCK = threading.Lock()
_SCRATCH_PREFIX = "studio-season-"


def _series_key(task: EpisodeTask) -> str:
    blob = json.dumps([sorted(task.project_files.items()), task.vault_root, task.vault_url])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _remove_dead_scratch() -> None:
    """Scratch folders of worker processes that are gone (a killed worker's)."""
    from ..store.ledger import pid_alive

    base = Path(tempfile.gettempdir())
    for d in base.glob(f"{_SCRATCH_PREFIX}p*-*"):
        pid = d.name[len(_SCRATCH_PREFIX) + 1:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _drop_all_series() -> None:
    with _SERIES_LOCK:
        for entries in _SERIES.values():
            for scratch, _root, _stamps in entries:
                shutil.rmtree(scratch, ignore_errors=True)
        _SERIES.clear()


atexit.register(_drop_all_series)


def _take_series(task: EpisodeTask) -> tuple[Path, Path, dict[str, tuple[int, int]]]:
    """A series root for this task: one this process built for the same files before, else
    a new empty one. Another season's roots are removed."""
    key = _series_key(task)
    with _SERIES_LOCK:
        for other in [k for k in _SERIES if k != key]:
            for scratch, _root, _stamps in _SERIES.pop(other):
                shutil.rmtree(scratch, ignore_errors=True)
        free = _SERIES.setdefault(key, [])
        if free:
            return free.pop()
    _remove_dead_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}p{os.getpid()}-"))
    root = scratch / "series"
    (root / ".studio").mkdir(parents=True)
    return scratch, root, {}


def _fill_series(task: EpisodeTask, root: Path, stamps: dict[str, tuple[int, int]],
                 vault: Vault) -> int:
    """The season's files under ``root`` from the vault: a file this process wrote there
    before and nobody changed since (size, mtime) is kept, others are (re)copied. Returns
    how many were copied."""
    copied = 0
    for rel, digest in task.project_files.items():
        dest = root / rel
        try:
            st = dest.stat()
            if stamps.get(rel) == (st.st_size, st.st_mtime_ns):
                continue
        except OSError:
            pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_copy(vault.get(digest), dest)
        st = dest.stat()
        stamps[rel] = (st.st_size, st.st_mtime_ns)
        copied += 1
    return copied


def _give_back(task: EpisodeTask, entry) -> None:
    with _SERIES_LOCK:
        _SERIES.setdefault(_series_key(task), []).append(entry)


def _task_vault(task: EpisodeTask, studio: Path) -> Vault:
    if task.vault_url:
        return Vault(studio / "vault", remote=task.vault_url)  # this worker's cache
    assert task.vault_root is not None
    link = studio / "vault"
    if not link.is_symlink():
        link.symlink_to(task.vault_root, target_is_directory=True)
    return Vault(link, remote="")


def _new_rows(ledger_path: Path, baseline: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The rows the task's render added to its copy of the ledger (merged tables)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    con = sqlite3.connect(ledger_path)
    con.row_factory = sqlite3.Row
    try:
        for table in MERGED_TABLES:
            rows[table] = [dict(r) for r in con.execute(
                f"SELECT * FROM {table} WHERE id > ? ORDER BY id",  # noqa: S608
                (baseline.get(table, 0),))]
    finally:
        con.close()
    return rows


def shot_chains(shots: list[Any]) -> list[list[str]]:
    """The episode's shots in tasks: each shot alone, except that a shot continuing the
    previous one (its first frame is the previous take's last) joins its chain."""
    chains: list[list[str]] = []
    for shot in shots:
        if chains and getattr(shot, "continue_from_previous", False):
            chains[-1].append(shot.id)
        else:
            chains.append([shot.id])
    return chains


def render_shots_task(task: ShotsTask) -> ShotsOutcome:
    """Generation and QC of ``task.shots`` on a worker, through the stage graph's per-shot
    seam (``EPISODE_GRAPH``: ``dialogue``, ``timing``, ``prompt`` for the episode, then
    ``generate`` for each shot of the chain). Never pays; the takes land in the shared
    vault under the keys the episode's render looks up, so its ``generate`` and ``qc`` are
    hits there; returns the new ledger rows for the coordinator."""
    from ..pipeline.context import RenderContext
    from ..pipeline.graph import EPISODE_GRAPH

    t0 = time.perf_counter()
    et = task.episode
    out_scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}p{os.getpid()}-out-"))
    entry = _take_series(et)
    try:
        _scratch, root, stamps = entry
        studio = root / ".studio"
        vault = _task_vault(et, studio)
        _fill_series(et, root, stamps, vault)
        atomic_copy(vault.get(et.ledger), studio / "ledger.sqlite")
        for extra in ("ledger.sqlite-wal", "ledger.sqlite-shm"):
            (studio / extra).unlink(missing_ok=True)
        options = RenderOptions.model_validate_json(et.options_json).model_copy(
            update={"paid_calls": False})
        with _env("STUDIO_VAULT_URL", et.vault_url or None):
            ctx = RenderContext(Project.load(root), et.episode, options, out_scratch / "out",
                                None, run_kind="season-shots")
            try:
                for name in ("dialogue", "timing", "prompt"):
                    EPISODE_GRAPH.run_stage(name, ctx)
                takes: dict[str, Any] = {}
                ctx.products["generate"] = {"takes": takes}  # a continued shot's previous
                for sid in task.shots:
                    takes[sid] = EPISODE_GRAPH.stage("generate").run_shot(ctx, sid)
            except BaseException:
                ctx.finish(ok=False)
                raise
            ctx.finish(ok=True)
        return ShotsOutcome(episode=et.episode, shots=task.shots,
                            worker=f"{socket.gethostname()}:{os.getpid()}",
                            seconds=round(time.perf_counter() - t0, 3),
                            rows=_new_rows(studio / "ledger.sqlite", et.baseline))
    finally:
        shutil.rmtree(out_scratch, ignore_errors=True)
        _give_back(et, entry)


def render_episode_task(task: EpisodeTask, *_after: Any) -> EpisodeOutcome:
    """One episode on a worker (see module doc). Never pays, never writes the project's
    ledger; returns hashes and ledger rows for the coordinator to record. The series is
    rebuilt from the vault once per worker process and season (later episodes reuse it);
    the ledger snapshot and the output folder are the task's own."""
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    out_scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}p{os.getpid()}-out-"))
    entry = None
    try:
        entry = _take_series(task)
        _scratch, root, stamps = entry
        studio = root / ".studio"
        vault = _task_vault(task, studio)  # a shared folder, or this worker's cache
        _fill_series(task, root, stamps, vault)
        atomic_copy(vault.get(task.ledger), studio / "ledger.sqlite")
        for extra in ("ledger.sqlite-wal", "ledger.sqlite-shm"):
            (studio / extra).unlink(missing_ok=True)  # the last task's, not this snapshot's
        phases["series"] = time.perf_counter() - t0
        options = RenderOptions.model_validate_json(task.options_json).model_copy(
            update={"paid_calls": False})
        with _env("STUDIO_VAULT_URL", task.vault_url or None):
            t1 = time.perf_counter()
            result = render_episode(root, task.episode, options=options,
                                    out_dir=out_scratch / "out")
            phases["render"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            ep_dir = Path(result.out_dir)
            files = {}
            for f in sorted(ep_dir.rglob("*")):
                if f.is_file() and f.name != "render.json" and "notebooks" not in f.parts:
                    files[str(f.relative_to(ep_dir))] = vault.put_file(f, move=True)
            phases["store"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        rows = _new_rows(studio / "ledger.sqlite", task.baseline)
        phases["rows"] = time.perf_counter() - t1
        return EpisodeOutcome(
            episode=task.episode, worker=f"{socket.gethostname()}:{os.getpid()}",
            seconds=round(time.perf_counter() - t0, 3), files=files,
            render_json=(ep_dir / "render.json").read_text(encoding="utf-8"), rows=rows,
            scratch_root=str(root), scratch_out=str(ep_dir),
            phases={k: round(v, 3) for k, v in phases.items()})
    finally:
        shutil.rmtree(out_scratch, ignore_errors=True)
        if entry is not None:
            _give_back(task, entry)


# -- the coordinator --------------------------------------------------------------------
def _source_files(root: Path, skip: list[Path]) -> list[Path]:
    out = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if not f.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] == "out" or any(f.is_relative_to(s) for s in skip):
            continue
        out.append(f)
    return out


def _snapshot_ledger(ledger_path: Path, vault: Vault) -> tuple[str, dict[str, int]]:
    """A consistent copy of the ledger (SQLite's backup API) in the vault, and each merged
    table's highest id in it."""
    src = sqlite3.connect(ledger_path)
    work = vault.work_dir("ledger-")
    try:
        dst_path = work / "ledger.sqlite"
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst)
            baseline = {t: int(dst.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}")  # noqa: S608
                               .fetchone()[0]) for t in MERGED_TABLES}
        finally:
            dst.close()
        return vault.put_file(dst_path, move=True), baseline
    finally:
        src.close()
        shutil.rmtree(work, ignore_errors=True)


def _stage_counts(render: dict[str, Any], ran: set[tuple[str, Any]] | None = None
                  ) -> dict[str, dict[str, int]]:
    """Stage -> run / cached counts from render.json; ``ran``: (stage, subject) that a shot
    task ran (a hit in the episode's render, but run for this episode)."""
    counts: dict[str, dict[str, int]] = {}
    for row in render.get("stages", []):
        c = counts.setdefault(row["stage"], {"run": 0, "cached": 0, "failed": 0})
        hit = row["cache_hit"] and (row["stage"], row.get("subject")) not in (ran or set())
        c["cached" if hit else "run"] += 1
    return counts


def _with_shot_rows(outcome: EpisodeOutcome, shots: list[ShotsOutcome]
                    ) -> tuple[EpisodeOutcome, set[tuple[str, Any]]]:
    """The episode's rows with its shot tasks' in front, as one in-process render records
    them: a stage a shot task ran is the row that counts (the episode render's hit on the
    same key is dropped). Returns the outcome and the (stage, subject) the shot tasks ran."""
    if not shots:
        return outcome, set()
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in MERGED_TABLES}
    ran_keys: set[tuple[str, str]] = set()
    ran: set[tuple[str, Any]] = set()
    for shot in shots:
        for table in MERGED_TABLES:
            for row in shot.rows.get(table, []):
                if table == "stage_results":
                    if (row["stage"], row["key"]) in ran_keys:
                        continue  # the episode-wide stages every shot task ran (dialogue)
                    ran_keys.add((row["stage"], row["key"]))
                    if not row["cache_hit"]:
                        ran.add((row["stage"], row.get("subject")))
                rows[table].append(row)
    for table in MERGED_TABLES:
        for row in outcome.rows.get(table, []):
            if table == "stage_results" and (row["stage"], row["key"]) in ran_keys:
                continue
            rows[table].append(row)
    return outcome.model_copy(update={"rows": rows}), ran


def _record(proj: Project, outcome: EpisodeOutcome, out_dir: Path, vault: Vault,
            params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The worker's render in the project's ledger and output folder (coordinator only)."""
    from ..store.ledger import Ledger

    ep_dir = out_dir / f"episode-{outcome.episode}"
    for rel, digest in outcome.files.items():
        dest = ep_dir / rel
        if dest.is_file() and file_hash(dest) == digest:
            continue
        atomic_copy(vault.get(digest), dest)
    with Ledger(proj.studio_dir / "ledger.sqlite") as ledger:
        run_id = ledger.start_run("render", outcome.episode,
                                  {**params, "worker": outcome.worker})
        with ledger.transaction() as con:
            for table in MERGED_TABLES:
                for row in outcome.rows.get(table, []):
                    if table == "stage_results" and NOT_PAID_ON_WORKER in \
                            str(row.get("outputs", "")):
                        continue  # a refusal to pay, not an engine failure
                    if table == "engine_calls" and float(row.get("cost") or 0) > 0:
                        raise StudioError(  # never: workers cannot pay (paid_calls=False)
                            f"episode {outcome.episode}: a worker recorded a paid call",
                            field="paid_calls", hint="report this as a bug")
                    row = {k: v for k, v in row.items() if k != "id"}
                    if "run_id" in row:
                        row["run_id"] = run_id
                    cols = ", ".join(row)
                    marks = ", ".join("?" for _ in row)
                    con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",  # noqa: S608
                                tuple(row.values()))
        text = outcome.render_json.replace(outcome.scratch_out, str(ep_dir)).replace(
            outcome.scratch_root, str(proj.root))
        data = json.loads(text)
        data["run_id"] = run_id
        record = ep_dir / "render.json"
        atomic_write_text(record, json.dumps(data, indent=2))
        ledger.finish_run(run_id, status="ok", record=str(record))
    return run_id, data


def render_season(project: str | Path | Project, episodes: list[str] | None = None, *,
                  options: RenderOptions | None = None, out_dir: str | Path | None = None,
                  executor=None, vault_url: str | None = None,
                  progress: Callable[[SeasonResult], None] | None = None,
                  shot_tasks: bool = False) -> SeasonResult:
    """Render ``episodes`` (default: all) of a series on ``executor`` (default: in process);
    see the module doc. ``vault_url`` (default ``STUDIO_VAULT_URL``) puts the vault on an
    fsspec URL shared with the workers; without it the vault folder must be reachable by
    every worker (a LocalCluster, or a shared file system). ``shot_tasks``: each episode's
    generation and QC as one task per shot (``render_shots_task``; a continued shot with its
    previous one) before its episode task, so one episode's shots spread over the workers;
    the episode task then finds them in the vault (bit-identical, the same ledger rows)."""
    t0 = time.perf_counter()
    options = options or RenderOptions()
    executor = executor or InProcessExecutor()
    vault_url = vault_url if vault_url is not None else settings().vault_url
    with _env("STUDIO_VAULT_URL", vault_url or None):
        proj = project if isinstance(project, Project) else Project.load(project)
        eps = parse_episodes(",".join(episodes) if episodes else None, list(proj.episodes))
        for ep in eps:
            proj.storyboard(ep)  # every episode has a storyboard before anything runs
        out = (Path(out_dir) if out_dir is not None else proj.root / "out").resolve()
        out.mkdir(parents=True, exist_ok=True)
        vault = proj.vault()
        season = SeasonResult(project=str(proj.root), series=proj.series.title,
                              executor=executor.name, workers=executor.workers,
                              episodes=[SeasonEpisode(episode=e) for e in eps])
        season_id = uuid.uuid4().hex[:12]

        def changed() -> None:
            season.seconds = round(time.perf_counter() - t0, 3)
            season.total_cost = round(sum(e.spend for e in season.episodes), 6)
            atomic_write_text(out / SEASON_FILE, season.model_dump_json(indent=1))
            if progress is not None:
                progress(season)

        files = {str(f.relative_to(proj.root)): vault.put_file(f)
                 for f in _source_files(proj.root, [out])}
        params = {"season": season_id, "executor": executor.name,
                  "options": json.loads(options.model_dump_json())}
        futures = {}
        prepare: dict[str, float] = {}
        shot_futures: dict[str, list[Any]] = {}
        for ep in eps:
            rec = season.episode(ep)
            rec.status = "pictures"
            changed()
            t_prep = time.perf_counter()
            try:  # 1. paid takes, here, from the ledger
                rec.paid_takes = len(produce_paid_takes(proj, ep, options=options))
            except StudioError as exc:
                rec.status, rec.error = "failed", str(exc).splitlines()[0]
                changed()
                continue
            ledger_digest, baseline = _snapshot_ledger(proj.studio_dir / "ledger.sqlite",
                                                       vault)
            task = EpisodeTask(episode=ep, options_json=options.model_dump_json(),
                               project_files=files, ledger=ledger_digest, baseline=baseline,
                               vault_root=None if vault_url else str(vault.root.resolve()),
                               vault_url=vault_url or None)
            prepare[ep] = time.perf_counter() - t_prep
            rec.status = "rendering"
            changed()
            if shot_tasks:  # the pictures first, a task per shot (chain), on any worker
                shot_futures[ep] = [
                    executor.submit(render_shots_task, ShotsTask(episode=task, shots=chain),
                                    key=f"shots-{ep}-{i}-{season_id}")
                    for i, chain in enumerate(shot_chains(proj.storyboard(ep).shots))]
            # the episode after its shot tasks (Dask: they are its dependencies)
            futures[ep] = executor.submit(render_episode_task, task,
                                          *shot_futures.get(ep, []),
                                          key=f"episode-{ep}-{season_id}")
        by_key = {f.key: ep for ep, f in futures.items()}
        for fut in executor.as_completed(futures.values()):
            ep = by_key[fut.key]
            rec = season.episode(ep)
            try:
                outcome = fut.result()
                shots = [f.result() for f in shot_futures.get(ep, [])]
                outcome, ran = _with_shot_rows(outcome, shots)
                t_rec = time.perf_counter()
                rec.run_id, data = _record(proj, outcome, out, vault, params)
                rec.phases = {**outcome.phases, "prepare": round(prepare.get(ep, 0.0), 3),
                              "record": round(time.perf_counter() - t_rec, 3)}
            except Exception as exc:  # noqa: BLE001 - one failed episode; the others go on
                rec.status, rec.error = "failed", f"{type(exc).__name__}: " + \
                    (str(exc).splitlines() or [""])[0]
                changed()
                continue
            rec.status, rec.worker, rec.seconds = "done", outcome.worker, outcome.seconds
            rec.master, rec.prores = data.get("master"), data.get("prores")
            rec.stages = _stage_counts(data, ran)
            rec.shot_workers = [s.worker for s in shots]
            with proj.ledger() as ledger:
                rec.spend = round(ledger.total_cost(ep), 6)
            changed()
        changed()
    return season
