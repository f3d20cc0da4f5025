"""Gate B (creative, per shot) and Gate C (final, the master); publishing behind Gate C.

Decisions live in the ledger's ``gate_decisions`` (who, when, why, and the content hash of
what was decided on). A decision is bound to that hash:
- Gate B approves one *take* of a shot (the asset hash); a new take needs a new review;
  a rejection is fed to regeneration (``reject_and_regenerate``).
- Gate C approves one master file (sha256 of its bytes). If the master changes after
  approval, the gate re-opens (a ``reopened`` decision is recorded, by ``system``) and
  ``publish`` refuses until someone approves again.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import StudioError
from ..store.hashing import file_hash
from ..store.ledger import Ledger
from ..store.yamlio import atomic_copy

MASTER = "master"


class GateError(StudioError):
    """An action needs a gate decision that has not been made (or no longer holds)."""


class GateState(StrEnum):
    open = "open"  # nothing decided yet
    approved = "approved"
    rejected = "rejected"
    reopened = "reopened"  # approved, then the subject changed


class GateStatus(BaseModel):
    gate: str
    subject: str
    state: GateState
    who: str | None = None
    why: str | None = None
    when: str | None = None
    decided_hash: str | None = None
    current_hash: str | None = None


def _who(who: str) -> str:
    if not who or not who.strip():
        raise GateError("a decision needs the name of who made it", field="who",
                        hint="pass --who NAME")
    return who.strip()


def _decision(approve: bool) -> str:
    return "approved" if approve else "rejected"


def _status(ledger: Ledger, episode: str, gate: str, subject: str,
            current_hash: str | None) -> GateStatus:
    d = ledger.latest_decision(episode, gate, subject)
    if d is None:
        return GateStatus(gate=gate, subject=subject, state=GateState.open,
                          current_hash=current_hash)
    state = GateState(d["decision"])
    if state == GateState.approved and current_hash and d["subject_hash"] != current_hash:
        state = GateState.reopened
    elif (state == GateState.rejected and current_hash and d["subject_hash"]
          and d["subject_hash"] != current_hash):
        state = GateState.open  # a new take since the rejection: it awaits its review
    return GateStatus(gate=gate, subject=subject, state=state, who=d["who"], why=d["why"],
                      when=d["created_at"], decided_hash=d["subject_hash"],
                      current_hash=current_hash)


# -- Gate B --------------------------------------------------------------------------------
def review_shot(ledger: Ledger, episode: str, shot_id: str, *, approve: bool, who: str,
                why: str = "", asset: str) -> GateStatus:
    """Record a creative decision on the take ``asset`` of a shot."""
    if not approve and not why.strip():
        raise GateError("a rejection needs a note saying what is wrong", field="why",
                        hint="e.g. --why 'her scarf is the wrong red'")
    ledger.decide(episode=episode, gate="B", subject=shot_id, decision=_decision(approve),
                  who=_who(who), why=why, subject_hash=asset)
    return _status(ledger, episode, "B", shot_id, asset)


def shot_status(ledger: Ledger, episode: str, shot_id: str, asset: str | None) -> GateStatus:
    return _status(ledger, episode, "B", shot_id, asset)


def gate_b_complete(ledger: Ledger, episode: str, takes: dict[str, str]) -> list[str]:
    """Shots (of ``takes``: shot id -> current asset) not approved at Gate B; [] = done."""
    return [sid for sid, asset in takes.items()
            if shot_status(ledger, episode, sid, asset).state != GateState.approved]


async def reject_and_regenerate(ledger: Ledger, episode: str, shot_id: str, *, who: str,
                                why: str, asset: str, request, chain: list[str], vault,
                                **produce_kw: Any):
    """Gate B rejection that feeds regeneration: record it, then produce a new take (new
    seed, continuing the shot's attempt numbering). Returns the ShotProduction."""
    from .regeneration import produce_shot

    review_shot(ledger, episode, shot_id, approve=False, who=who, why=why, asset=asset)
    return await produce_shot(request, chain=chain, vault=vault, ledger=ledger,
                              reason=f"Gate B rejected by {who}: {why}", **produce_kw)


# -- Gate C --------------------------------------------------------------------------------
def master_status(ledger: Ledger, episode: str, master: str | Path) -> GateStatus:
    """Gate C state for the master file as it is now; records the re-opening if it changed."""
    master = Path(master)
    if not master.is_file():
        raise GateError("the master file does not exist", file=master,
                        hint="assemble the episode first")
    status = _status(ledger, episode, "C", MASTER, file_hash(master))
    if status.state == GateState.reopened:
        d = ledger.latest_decision(episode, "C", MASTER)
        if d and d["decision"] == "approved":
            ledger.decide(episode=episode, gate="C", subject=MASTER, decision="reopened",
                          who="system", why=f"master changed after approval "
                          f"({status.decided_hash[:12]} -> {status.current_hash[:12]})",
                          subject_hash=status.current_hash)
    return status


def decide_master(ledger: Ledger, episode: str, master: str | Path, *, approve: bool,
                  who: str, why: str | None = "") -> GateStatus:
    master = Path(master)
    why = why or ""  # no note on an approval is an empty note (the ledger column is NOT NULL)
    if not master.is_file():
        raise GateError("the master file does not exist", file=master,
                        hint="assemble the episode first")
    if not approve and not why.strip():
        raise GateError("a rejection needs a note", field="why", hint="say what to fix")
    h = file_hash(master)
    ledger.decide(episode=episode, gate="C", subject=MASTER, decision=_decision(approve),
                  who=_who(who), why=why, subject_hash=h)
    return _status(ledger, episode, "C", MASTER, h)


def require_gate_c(ledger: Ledger, episode: str, master: str | Path, *,
                   action: str = "published") -> GateStatus:
    """The master's Gate C status; GateError unless Gate C approved exactly this file
    (publish, deliverables and the surfaces all ask here)."""
    status = master_status(ledger, episode, master)
    if status.state != GateState.approved:
        what = {GateState.open: "has not been reviewed",
                GateState.rejected: f"was rejected by {status.who}: {status.why}",
                GateState.reopened: "changed after it was approved (the gate re-opened)"}
        raise GateError(f"episode {episode}: the master {what[status.state]}; nothing is "
                        f"{action} without Gate C", file=master, field="gate C",
                        hint=f"review it, then 'studio gate PROJECT {episode} --gate C "
                        f"--master {master} --approve --who NAME'")
    return status


def publish(ledger: Ledger, episode: str, master: str | Path, dest: str | Path, *,
            run_id: int | None = None) -> Path:
    """Copy the master to ``dest`` - only if Gate C approved exactly this file."""
    status = require_gate_c(ledger, episode, master)
    dest = Path(dest)
    atomic_copy(master, dest)
    ledger.stage_result(run_id, "publish", status.current_hash or "", cache_hit=False,
                        subject=episode, outputs={"dest": str(dest),
                                                  "master": status.current_hash or ""})
    return dest


# -- the story ------------------------------------------------------------------------------
def story(ledger: Ledger, episode: str, shot_id: str | None = None) -> list[dict[str, Any]]:
    """Everything the ledger knows about an episode (or one shot), in time order: engine
    calls, regeneration attempts with their QC verdicts, gate decisions, publishing."""
    # exact matches (not LIKE): an ``_`` or ``%`` in an id is a character, not a wildcard
    prefix = f"{episode}:"
    rows: list[dict[str, Any]] = []
    for r in ledger.query(
            "SELECT e.created_at AS at, e.shot_id AS shot, e.engine, e.attempt, e.status, "
            "e.asset, e.cost FROM engine_calls e LEFT JOIN runs r ON e.run_id = r.id "
            "WHERE (? IS NULL OR e.shot_id = ?) AND (r.episode IS NULL OR r.episode = ?)",
            (shot_id, shot_id, episode)):
        rows.append({"at": r["at"], "kind": "engine_call", "shot": r["shot"],
                     "what": f"attempt {r['attempt']} on {r['engine']}: {r['status']}",
                     "asset": r["asset"], "cost": r["cost"]})
    for r in ledger.query("SELECT created_at AS at, subject AS shot, status, outputs FROM "
                          "stage_results WHERE stage='regeneration' AND (? IS NULL OR "
                          "subject = ?) AND substr(key, 1, ?) = ?",
                          (shot_id, shot_id, len(prefix), prefix)):
        o = json.loads(r["outputs"])
        verdict = "passed QC" if r["status"] == "ok" else (
            f"failed QC: {', '.join(json.loads(o.get('failures', '[]')))}"
            if r["status"] == "failed" else f"error: {o.get('error', '')}")
        rows.append({"at": r["at"], "kind": "attempt", "shot": r["shot"],
                     "what": f"attempt {o.get('attempt')} ({o.get('engine')}, seed "
                             f"{o.get('seed')}): {verdict}", "asset": o.get("asset"),
                     "reason": o.get("reason")})
    for r in ledger.query("SELECT created_at AS at, gate, subject, decision, who, why, "
                          "subject_hash FROM gate_decisions WHERE episode=? AND "
                          "(? IS NULL OR subject = ? OR gate = 'C')",
                          (episode, shot_id, shot_id)):
        rows.append({"at": r["at"], "kind": f"gate_{r['gate']}", "shot": r["subject"],
                     "what": f"{r['decision']} by {r['who']}" + (f": {r['why']}" if r["why"]
                                                                 else ""),
                     "asset": r["subject_hash"]})
    for r in ledger.query("SELECT created_at AS at, outputs FROM stage_results WHERE "
                          "stage='publish' AND subject=?", (episode,)):
        rows.append({"at": r["at"], "kind": "publish", "shot": MASTER, "what": r["outputs"]})
    return sorted(rows, key=lambda r: r["at"])


# -- an episode's gates at a glance (status, the gate queue surface) ----------------------
class EpisodeGates(BaseModel):
    """Where an episode stands at Gates A, B and C, from the gate decisions the functions
    above (and ``budget.approve_gate_a``) record - the one source for ``studio status`` and
    the gate queue widget."""

    episode: str
    a: GateState = GateState.open
    a_who: str | None = None
    takes: dict[str, str] = {}  # shot id -> asset of its current take
    shots: list[GateStatus] = []  # Gate B, one per storyboard shot (current take)
    master: str | None = None  # the latest render's master file, if it is there
    c: GateStatus | None = None

    @property
    def b(self) -> GateState:
        states = {s.state for s in self.shots}
        if not self.shots or not self.takes:
            return GateState.open
        for st in (GateState.rejected, GateState.reopened, GateState.open):
            if st in states:
                return st
        return GateState.approved

    @property
    def b_approved(self) -> int:
        return sum(s.state == GateState.approved for s in self.shots)

    @property
    def pending(self) -> str | None:
        """The first gate not approved (A, then B, then C); None when all are."""
        if self.a != GateState.approved:
            return "A"
        if self.b != GateState.approved:
            return "B"
        if self.c is None or self.c.state != GateState.approved:
            return "C"
        return None

    @property
    def ready(self) -> bool:
        """Whether the pending gate has something to decide on (B: takes, C: a master)."""
        return {"A": True, "B": bool(self.takes), "C": self.master is not None,
                None: False}[self.pending]

    def summary(self) -> dict[str, str]:
        return {"A": self.a.value,
                "B": f"{self.b.value} ({self.b_approved}/{len(self.shots)})",
                "C": self.c.state.value if self.c else "open"}


def latest_render(ledger: Ledger, episode: str) -> dict[str, Any] | None:
    """``render.json`` of the episode's latest successful render (None if none is readable),
    with the run's ``finished_at``. A run whose record is its executed notebook (renders
    through ``--notebook`` before the record stayed ``render.json``) is read from the
    ``render.json`` of the episode folder the notebook is in."""
    for r in ledger.query("SELECT record, finished_at FROM runs WHERE kind='render' AND "
                          "episode=? AND status='ok' AND record IS NOT NULL ORDER BY id DESC",
                          (episode,)):
        record = Path(r["record"])
        candidates = [record]
        if record.suffix == ".ipynb":
            candidates = [record.with_name("render.json"), record.parent.parent / "render.json"]
        for path in candidates:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "shots" in data:
                data["finished_at"] = r["finished_at"]
                return data
    return None


def current_take_records(ledger: Ledger, episode: str,
                         render: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """THE current take of every shot (shot id -> ``asset``, ``engine``, ``request``: the
    vault hash of its request JSON, when known): the latest render's take, replaced by a
    regeneration take made after that render (e.g. after a Gate B rejection). ``studio
    qc``, the gates, status and the surfaces all read this."""
    render = render if render is not None else latest_render(ledger, episode)
    takes: dict[str, dict[str, str]] = {}
    since = ""
    if render:
        takes = {s["shot_id"]: {"asset": s["asset"], "engine": s.get("engine") or "",
                                "request": s.get("request") or ""}
                 for s in render.get("shots", []) if isinstance(s, dict) and s.get("asset")}
        since = render.get("finished_at") or ""
    prefix = f"{episode}:"
    rows = ledger.query("SELECT subject, outputs, created_at FROM stage_results WHERE "
                        "stage='regeneration' AND substr(key, 1, ?) = ? ORDER BY id",
                        (len(prefix), prefix))
    for r in rows:
        out = json.loads(r["outputs"])
        asset = out.get("asset")
        if not asset:
            continue
        known = takes.get(r["subject"])
        if r["created_at"] > since:
            takes[r["subject"]] = {"asset": asset, "engine": out.get("engine") or "",
                                   "request": out.get("request") or ""}
        elif known and known["asset"] == asset and not known["request"]:
            known["request"] = out.get("request") or ""  # the render's take, its request
    return takes


def current_takes(ledger: Ledger, episode: str,
                  render: dict[str, Any] | None = None) -> dict[str, str]:
    """Shot id -> asset of its current take (``current_take_records``)."""
    return {sid: t["asset"] for sid, t in current_take_records(ledger, episode, render).items()}


def budget_state(ledger: Ledger, project: Any, episode: str) -> tuple[GateState, str | None]:
    """Gate A (``budget.approve_gate_a``): approved only for the estimate as it is now - an
    approval of an estimate that ``routing.yaml`` has changed since is ``reopened``."""
    d = ledger.latest_decision(episode, "A", "budget")
    if d is None:
        return GateState.open, None
    state = GateState(d["decision"])
    if state == GateState.approved and d.get("subject_hash"):
        from .generation import current_estimate_hash

        try:
            if current_estimate_hash(project, episode, ledger) != d["subject_hash"]:
                state = GateState.reopened
        except StudioError:
            pass  # the routes cannot be estimated now; 'studio estimate' says why
    return state, d["who"]


_SEEN_HASHES: dict[tuple[str, int, int], str] = {}


def _seen_hash(path: Path) -> str:
    """A master's SHA-256 for the read views (status, gate queue), remembered per (path,
    size, mtime) so a refresh does not re-read every episode's master. Decisions and
    publishing always hash the file afresh."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SEEN_HASHES:
        _SEEN_HASHES[key] = file_hash(path)
    return _SEEN_HASHES[key]


def episode_gates(ledger: Ledger, project: Any, episode: str) -> EpisodeGates:
    """Read-only: Gates A, B (each storyboard shot's current take) and C (the latest
    render's master, by its content hash) of ``episode``."""
    sb = project.storyboard(episode)
    ep = sb.episode
    render = latest_render(ledger, ep)
    takes = current_takes(ledger, ep, render)
    a, a_who = budget_state(ledger, project, ep)
    shots = [shot_status(ledger, ep, s.id, takes.get(s.id)) for s in sb.shots]
    master = render.get("master") if render else None
    c = None
    if master and Path(master).is_file():
        c = _status(ledger, ep, "C", MASTER, _seen_hash(Path(master)))
    else:
        master = None
    return EpisodeGates(episode=ep, a=a, a_who=a_who, takes=takes, shots=shots,
                        master=master, c=c)
