"""The production ledger: SQLite (WAL) record of runs, stage results, paid engine calls,
gate decisions and QC scores.

Several processes may write at once (a render plus reviewers on the surfaces): each write
is one short ``BEGIN IMMEDIATE`` transaction, with a busy timeout and a retry, so writers
queue instead of failing. Schema changes are numbered migrations applied in order and
recorded in ``schema_migrations``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        episode TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'running',
        started_at TEXT NOT NULL,
        finished_at TEXT,
        record TEXT,
        pid INTEGER
    );
    CREATE TABLE stage_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id),
        stage TEXT NOT NULL,
        subject TEXT,
        key TEXT NOT NULL,
        cache_hit INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'ok',
        seconds REAL,
        outputs TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE INDEX stage_results_run ON stage_results(run_id);
    CREATE TABLE engine_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id),
        engine TEXT NOT NULL,
        model TEXT,
        shot_id TEXT,
        request_hash TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL,
        remote_id TEXT,
        cost REAL NOT NULL DEFAULT 0,
        currency TEXT NOT NULL DEFAULT 'USD',
        asset TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX engine_calls_request ON engine_calls(request_hash);
    CREATE TABLE gate_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        episode TEXT NOT NULL,
        gate TEXT NOT NULL CHECK (gate IN ('A', 'B', 'C')),
        subject TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected', 'reopened')),
        who TEXT NOT NULL,
        why TEXT NOT NULL DEFAULT '',
        subject_hash TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE qc_scores (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id),
        episode TEXT,
        shot_id TEXT NOT NULL,
        asset TEXT,
        scorer TEXT NOT NULL,
        score REAL NOT NULL,
        threshold REAL,
        passed INTEGER NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    """,
]


_CLOCK = threading.Lock()
_LAST: list[datetime] = []


def _now() -> str:
    """A UTC timestamp in microseconds, strictly increasing within the process: rows are
    ordered across tables by time (e.g. a regeneration take made after a render), so two
    rows written in the same tick must not tie. Older ledgers' millisecond stamps still
    sort before later microsecond ones."""
    with _CLOCK:
        now = datetime.now(UTC)
        if _LAST and now <= _LAST[0]:
            now = _LAST[0] + timedelta(microseconds=1)
        _LAST[:] = [now]
    return now.isoformat(timespec="microseconds")


class Ledger:
    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            from .errors import StudioError  # the file is kept: nothing is deleted here

            raise StudioError(
                f"the production ledger cannot be opened: {exc}", file=self.path,
                hint=f"it is not an SQLite database (damaged or overwritten); move it aside "
                f"(mv {self.path} {self.path}.damaged) and the next run starts a new one",
            ) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken eagerly so concurrent writers queue."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        with self.transaction() as c:
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                      "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in c.execute("SELECT version FROM schema_migrations")}
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    c.execute(statement)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, _now()))

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    # -- runs ------------------------------------------------------------------------
    def start_run(self, kind: str, episode: str | None = None,
                  params: dict[str, Any] | None = None) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO runs (kind, episode, params, started_at, pid) VALUES (?,?,?,?,?)",
                (kind, episode, json.dumps(params or {}, sort_keys=True), _now(), os.getpid()),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "ok", record: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET status=?, finished_at=?, record=COALESCE(?, record) "
                      "WHERE id=?", (status, _now(), record, run_id))

    # -- stages ----------------------------------------------------------------------
    def stage_result(self, run_id: int | None, stage: str, key: str, *, cache_hit: bool,
                     subject: str | None = None, seconds: float | None = None,
                     outputs: dict[str, str] | None = None, status: str = "ok") -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO stage_results (run_id, stage, subject, key, cache_hit, status, "
                "seconds, outputs, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, stage, subject, key, int(cache_hit), status, seconds,
                 json.dumps(outputs or {}, sort_keys=True), _now()),
            )

    # -- engine calls ----------------------------------------------------------------
    def begin_call(self, *, engine: str, request_hash: str, run_id: int | None = None,
                   model: str | None = None, shot_id: str | None = None,
                   attempt: int = 1) -> int:
        """Record a call before it is made (status 'submitting'), so a crash leaves a trace."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO engine_calls (run_id, engine, model, shot_id, request_hash, "
                "attempt, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, engine, model, shot_id, request_hash, attempt, "submitting",
                 _now(), _now()),
            )
            return int(cur.lastrowid)

    def update_call(self, call_id: int, **fields: Any) -> None:
        allowed = {"status", "remote_id", "cost", "currency", "asset", "error", "model"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown engine_calls fields {unknown}")
        sets = ", ".join(f"{k}=?" for k in fields) + ", updated_at=?"
        with self.transaction() as c:
            c.execute(f"UPDATE engine_calls SET {sets} WHERE id=?",
                      (*fields.values(), _now(), call_id))

    def paid_asset(self, request_hash: str) -> str | None:
        """The asset a successful paid call already produced for this request, if any."""
        row = self._conn.execute(
            "SELECT asset FROM engine_calls WHERE request_hash=? AND status='succeeded' "
            "AND asset IS NOT NULL ORDER BY id DESC LIMIT 1", (request_hash,)).fetchone()
        return row[0] if row else None

    def pending_call(self, request_hash: str) -> dict[str, Any] | None:
        """A call submitted but not finished (e.g. the process died): resume, don't resubmit."""
        row = self._conn.execute(
            "SELECT * FROM engine_calls WHERE request_hash=? AND status IN "
            "('submitting','submitted','running') ORDER BY id DESC LIMIT 1",
            (request_hash,)).fetchone()
        return dict(row) if row else None

    def total_cost(self, episode: str | None = None) -> float:
        if episode is None:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(cost),0) FROM engine_calls WHERE status='succeeded'"
            ).fetchone()
        else:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(e.cost),0) FROM engine_calls e JOIN runs r "
                "ON e.run_id=r.id WHERE e.status='succeeded' AND r.episode=?", (episode,)
            ).fetchone()
        return float(row[0])

    # -- gates -----------------------------------------------------------------------
    def decide(self, *, episode: str, gate: str, subject: str, decision: str, who: str,
               why: str = "", subject_hash: str | None = None) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO gate_decisions (episode, gate, subject, decision, who, why, "
                "subject_hash, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (episode, gate, subject, decision, who, why, subject_hash, _now()),
            )
            return int(cur.lastrowid)

    def latest_decision(self, episode: str, gate: str, subject: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT * FROM gate_decisions WHERE episode=? AND gate=? AND subject=? "
            "ORDER BY id DESC LIMIT 1", (episode, gate, subject)).fetchone()
        return dict(row) if row else None

    # -- QC --------------------------------------------------------------------------
    def qc_score(self, *, shot_id: str, scorer: str, score: float, passed: bool,
                 threshold: float | None = None, run_id: int | None = None,
                 episode: str | None = None, asset: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO qc_scores (run_id, episode, shot_id, asset, scorer, score, "
                "threshold, passed, details, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, episode, shot_id, asset, scorer, float(score), threshold,
                 int(passed), json.dumps(details or {}, sort_keys=True, default=str), _now()),
            )
