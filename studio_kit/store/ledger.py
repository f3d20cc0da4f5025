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
import socket
import sqlite3
import threading
import time
import uuid
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
    # 2: cross-process leases per request hash; money at risk; collection attempts; run host
    """
    CREATE TABLE leases (
        request_hash TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        expires REAL NOT NULL
    );
    ALTER TABLE engine_calls ADD COLUMN at_risk REAL NOT NULL DEFAULT 0;
    ALTER TABLE engine_calls ADD COLUMN collect_tries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN host TEXT
    """,
]
HOST = socket.gethostname()
#: a lease not renewed for this long is dead whatever its holder's pid (another host)
LEASE_TTL_S = 30.0


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` (on this host) is running (a zombie counts as dead)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _redact(text: str) -> str:
    """Error text and params with every configured secret taken out (studio_kit.secrets)."""
    from ..secrets import redact

    return redact(text)


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
            self.mark_dead_runs()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            from ..errors import StudioError  # the file is kept: nothing is deleted here

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
                "INSERT INTO runs (kind, episode, params, started_at, pid, host) "
                "VALUES (?,?,?,?,?,?)",
                (kind, episode, _redact(json.dumps(params or {}, sort_keys=True)), _now(),
                 os.getpid(), HOST),
            )
            return int(cur.lastrowid)

    def mark_dead_runs(self) -> int:
        """Runs left 'running' by a process that is gone (kill -9, power loss) become
        'interrupted'; returns how many. Only runs of this host are judged by pid."""
        rows = self._conn.execute(
            "SELECT id, pid, host FROM runs WHERE status='running'").fetchall()
        dead = [r["id"] for r in rows if (r["host"] in (None, HOST)) and
                r["pid"] != os.getpid() and not pid_alive(r["pid"])]
        if dead:
            with self.transaction() as c:
                c.executemany("UPDATE runs SET status='interrupted', finished_at=? WHERE id=? "
                              "AND status='running'", [(_now(), i) for i in dead])
        return len(dead)

    # -- leases: one process at a time works on a request ------------------------------
    def acquire_lease(self, request_hash: str, ttl_s: float = LEASE_TTL_S
                      ) -> tuple[str | None, dict[str, Any] | None]:
        """Take the lease on ``request_hash``: ``(token, previous)`` when taken (``previous``
        is a dead holder's lease that was taken over, or None), ``(None, holder)`` while a
        live holder has it (its pid, host and expiry). A lease is dead when it expired or
        its holder's process (on this host) is gone."""
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT * FROM leases WHERE request_hash=?",
                            (request_hash,)).fetchone()
            prev = dict(row) if row else None
            if prev is not None and prev["expires"] > now and not (
                    prev["host"] == HOST and not pid_alive(prev["pid"])):
                return None, prev
            token = uuid.uuid4().hex
            c.execute("INSERT OR REPLACE INTO leases (request_hash, token, pid, host, "
                      "acquired_at, expires) VALUES (?,?,?,?,?,?)",
                      (request_hash, token, os.getpid(), HOST, _now(), now + ttl_s))
            return token, prev

    def renew_lease(self, request_hash: str, token: str, ttl_s: float = LEASE_TTL_S) -> bool:
        with self.transaction() as c:
            cur = c.execute("UPDATE leases SET expires=? WHERE request_hash=? AND token=?",
                            (time.time() + ttl_s, request_hash, token))
            return cur.rowcount == 1

    def release_lease(self, request_hash: str, token: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM leases WHERE request_hash=? AND token=?",
                      (request_hash, token))

    def finish_run(self, run_id: int, status: str = "ok", record: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET status=?, finished_at=?, record=COALESCE(?, record) "
                      "WHERE id=?", (status, _now(), _redact(record) if record else record, run_id))

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
        allowed = {"status", "remote_id", "cost", "currency", "asset", "error", "model",
                   "at_risk", "collect_tries"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown engine_calls fields {unknown}")
        if fields.get("error"):  # no configured secret reaches the ledger
            fields["error"] = _redact(str(fields["error"]))
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

    def _calls(self, episode: str | None) -> list[dict[str, Any]]:
        if episode is None:
            return self.query("SELECT e.id, e.status, e.cost, e.at_risk, e.shot_id, e.asset, "
                              "r.episode FROM engine_calls e LEFT JOIN runs r "
                              "ON e.run_id=r.id")
        return self.query("SELECT e.id, e.status, e.cost, e.at_risk, e.shot_id, e.asset, "
                          "r.episode FROM engine_calls e JOIN runs r ON e.run_id=r.id "
                          "WHERE r.episode=?", (episode,))

    def total_cost(self, episode: str | None = None) -> float:
        """Everything the engines billed: successful takes, and failed attempts that were
        billed (a rejected delivery, a completed job whose result is still to collect)."""
        return float(round(sum(r["cost"] or 0 for r in self._calls(episode)), 9))

    def spend(self, episode: str | None = None) -> dict[str, float]:
        """``billed`` (all), ``kept`` (takes in use), ``waste`` (billed but discarded: failed
        or rejected attempts, and succeeded takes a later take of the same shot replaced),
        ``pending`` (billed, result still to collect) and ``at_risk`` (submissions whose
        answer was lost: the engine may bill up to this)."""
        rows = self._calls(episode)
        latest: dict[tuple, int] = {}
        for r in rows:
            if r["status"] == "succeeded":
                k = (r["episode"], r["shot_id"])
                latest[k] = max(latest.get(k, 0), r["id"])
        out = {"billed": 0.0, "kept": 0.0, "waste": 0.0, "pending": 0.0, "at_risk": 0.0}
        for r in rows:
            cost = float(r["cost"] or 0)
            out["billed"] += cost
            out["at_risk"] += float(r["at_risk"] or 0)
            if r["status"] == "succeeded" and (
                    r["shot_id"] is None or latest.get((r["episode"], r["shot_id"])) == r["id"]):
                out["kept"] += cost
            elif r["status"] in ("submitting", "submitted", "running"):
                out["pending"] += cost
            else:
                out["waste"] += cost
        return {k: round(v, 9) for k, v in out.items()}

    # -- gates -----------------------------------------------------------------------
    def decide(self, *, episode: str, gate: str, subject: str, decision: str, who: str,
               why: str = "", subject_hash: str | None = None) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO gate_decisions (episode, gate, subject, decision, who, why, "
                "subject_hash, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (episode, gate, subject, decision, who, _redact(why), subject_hash, _now()),
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
                 int(passed), _redact(json.dumps(details or {}, sort_keys=True, default=str)),
                 _now()),
            )
