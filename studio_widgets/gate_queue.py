"""The gate queue: which episode waits on which gate, with approve / reject buttons.

Gates: A = budget (before any paid generation), B = creative (after a render),
C = final (after B is approved). Decisions go to the ledger's ``gate_decisions``.
"""

from __future__ import annotations

import getpass
import html
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.project import Project

GATES = {"A": "budget", "B": "creative", "C": "final"}


def gate_states(project: Project) -> list[dict[str, Any]]:
    """Per episode: the latest decision of each gate and the first gate still open."""
    has_ledger = (project.studio_dir / "ledger.sqlite").exists()
    ledger = project.ledger() if has_ledger else None
    out = []
    try:
        for ep_id, ep in sorted(project.episodes.items()):
            if ep.storyboard is None:
                continue
            rendered = bool(ledger and ledger.query(
                "SELECT 1 FROM runs WHERE episode=? AND status='ok' LIMIT 1", (ep_id,)))
            state: dict[str, Any] = {"episode": ep_id, "title": ep.storyboard.title,
                                     "rendered": rendered}
            pending = None
            for gate in GATES:
                d = ledger.latest_decision(ep_id, gate, "episode") if ledger else None
                state[gate] = d["decision"] if d else "open"
                if pending is None and state[gate] != "approved":
                    pending = gate
            state["pending"] = pending
            state["ready"] = pending == "A" or (pending in ("B", "C") and rendered)
            out.append(state)
    finally:
        if ledger:
            ledger.close()
    return out


def decide(project: Project, episode: str, gate: str, decision: str, who: str,
           why: str = "") -> int:
    if gate not in GATES:
        raise StudioError(f"unknown gate {gate!r}", field="gate", hint="gates: A, B, C")
    if decision not in ("approved", "rejected", "reopened"):
        raise StudioError(f"unknown decision {decision!r}", field="decision",
                          hint="approved, rejected or reopened")
    if not who.strip():
        raise StudioError("say who decides", field="who", hint="type your name")
    if decision == "rejected" and not why.strip():
        raise StudioError("a rejection needs a reason", field="why",
                          hint="write what must change")
    ledger = project.ledger()
    try:
        return ledger.decide(episode=episode, gate=gate, subject="episode", decision=decision,
                             who=who.strip(), why=why.strip())
    finally:
        ledger.close()


class GateQueue(w.VBox):
    def __init__(self, project: Project) -> None:
        self.project = project
        try:
            me = getpass.getuser()
        except Exception:  # no user name in some containers
            me = ""
        self.who = w.Text(value=me, description="Reviewer")
        self.why = w.Text(description="Note", placeholder="why (needed to reject)",
                          layout=w.Layout(width="420px"))
        self.message = w.HTML("")
        self.rows = w.VBox([])
        super().__init__([w.HTML("<h3>Gate queue</h3>"), w.HBox([self.who, self.why]),
                          self.rows, self.message])
        self.add_class("studio-gate-queue")
        self.refresh()

    def refresh(self) -> None:
        rows = []
        for st in gate_states(self.project):
            gates = " ".join(f"{g}:{st[g]}" for g in GATES)
            label = w.HTML(f"<b>{html.escape(st['episode'])}</b> {html.escape(st['title'])}"
                           f" <small>({gates})</small>", layout=w.Layout(width="420px"))
            if st["pending"] is None:
                rows.append(w.HBox([label, w.HTML("all gates approved")]))
                continue
            g = st["pending"]
            waiting = "" if st["ready"] else " (waits for a render)"
            ok = w.Button(description=f"Approve {g}", button_style="success",
                          disabled=not st["ready"])
            no = w.Button(description=f"Reject {g}", button_style="danger",
                          disabled=not st["ready"])
            ok.on_click(lambda _b, e=st["episode"], g=g: self._decide(e, g, "approved"))
            no.on_click(lambda _b, e=st["episode"], g=g: self._decide(e, g, "rejected"))
            rows.append(w.HBox([label, w.HTML(f"gate {g} ({GATES[g]}){waiting}"), ok, no]))
        self.rows.children = rows or [w.HTML("<i>No storyboarded episodes.</i>")]

    def _decide(self, episode: str, gate: str, decision: str) -> None:
        try:
            decide(self.project, episode, gate, decision, self.who.value, self.why.value)
        except StudioError as err:
            self.message.value = f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
            return
        self.message.value = f"gate {gate} {decision} for episode {episode}"
        self.refresh()
