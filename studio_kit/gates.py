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

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .errors import StudioError
from .hashing import file_hash
from .ledger import Ledger
from .yamlio import atomic_copy

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
                  who: str, why: str = "") -> GateStatus:
    master = Path(master)
    if not master.is_file():
        raise GateError("the master file does not exist", file=master,
                        hint="assemble the episode first")
    if not approve and not why.strip():
        raise GateError("a rejection needs a note", field="why", hint="say what to fix")
    h = file_hash(master)
    ledger.decide(episode=episode, gate="C", subject=MASTER, decision=_decision(approve),
                  who=_who(who), why=why, subject_hash=h)
    return _status(ledger, episode, "C", MASTER, h)


def publish(ledger: Ledger, episode: str, master: str | Path, dest: str | Path, *,
            run_id: int | None = None) -> Path:
    """Copy the master to ``dest`` - only if Gate C approved exactly this file."""
    status = master_status(ledger, episode, master)
    if status.state != GateState.approved:
        what = {GateState.open: "has not been reviewed",
                GateState.rejected: f"was rejected by {status.who}: {status.why}",
                GateState.reopened: "changed after it was approved (the gate re-opened)"}
        raise GateError(f"episode {episode}: the master {what[status.state]}; nothing is "
                        "published without Gate C", file=master, field="gate C",
                        hint=f"review it, then 'studio gate PROJECT {episode} --gate C "
                        f"--master {master} --approve --who NAME'")
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
    like = shot_id or "%"
    rows: list[dict[str, Any]] = []
    for r in ledger.query(
            "SELECT e.created_at AS at, e.shot_id AS shot, e.engine, e.attempt, e.status, "
            "e.asset, e.cost FROM engine_calls e LEFT JOIN runs r ON e.run_id = r.id "
            "WHERE e.shot_id LIKE ? AND (r.episode IS NULL OR r.episode = ?)", (like, episode)):
        rows.append({"at": r["at"], "kind": "engine_call", "shot": r["shot"],
                     "what": f"attempt {r['attempt']} on {r['engine']}: {r['status']}",
                     "asset": r["asset"], "cost": r["cost"]})
    for r in ledger.query("SELECT created_at AS at, subject AS shot, status, outputs FROM "
                          "stage_results WHERE stage='regeneration' AND subject LIKE ? AND "
                          "key LIKE ?", (like, f"{episode}:%")):
        import json

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
                          "(subject LIKE ? OR gate='C')", (episode, like)):
        rows.append({"at": r["at"], "kind": f"gate_{r['gate']}", "shot": r["subject"],
                     "what": f"{r['decision']} by {r['who']}" + (f": {r['why']}" if r["why"]
                                                                 else ""),
                     "asset": r["subject_hash"]})
    for r in ledger.query("SELECT created_at AS at, outputs FROM stage_results WHERE "
                          "stage='publish' AND subject=?", (episode,)):
        rows.append({"at": r["at"], "kind": "publish", "shot": MASTER, "what": r["outputs"]})
    return sorted(rows, key=lambda r: r["at"])
