"""The gate queue: which episode waits on which gate, with approve / reject buttons.

Gates: A = budget (``budget.approve_gate_a``: the current cost estimate), B = creative
(``gates.review_shot``: one decision per shot, bound to the shot's current take), C = final
(``gates.decide_master``: bound to the content hash of the latest render's master). The
widget records nothing itself: it calls the same gates API as the CLI, so a Gate C given here
unlocks ``gates.publish`` and ``studio status`` shows it. Publish (beside Gate C) goes through
``gates.publish``, so it is refused without Gate C on the current master.
"""

from __future__ import annotations

import getpass
import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.production import gates
from studio_kit.project.series_folder import Project
from studio_kit.store.hashing import file_hash

GATES = {"A": "budget", "B": "creative", "C": "final"}


def gate_states(project: Project) -> list[dict[str, Any]]:
    """Per storyboarded episode: each gate's state (``gates.episode_gates``), the first gate
    still open (``pending``), whether it can be decided now (``ready``), and for Gate B the
    shots whose current take awaits a decision."""
    has_ledger = (project.studio_dir / "ledger.sqlite").exists()
    ledger = project.ledger() if has_ledger else None
    out = []
    try:
        for ep_id, ep in sorted(project.episodes.items()):
            if ep.storyboard is None:
                continue
            if ledger is None:  # nothing decided or rendered yet
                state: dict[str, Any] = {"A": "open", "B": "open", "C": "open",
                                         "pending": "A", "ready": True, "shots": [],
                                         "master": None, "rendered": False}
            else:
                g = gates.episode_gates(ledger, project, ep_id)
                state = {**g.summary(), "pending": g.pending, "ready": g.ready,
                         "master": g.master, "rendered": bool(g.takes),
                         "master_hash": g.c.current_hash if g.c else None,
                         "shots": [{"shot": s.subject, "take": s.current_hash,
                                    "state": s.state.value, "who": s.who, "why": s.why}
                                   for s in g.shots if s.state != gates.GateState.approved]}
            state.update(episode=ep.storyboard.episode, title=ep.storyboard.title)
            out.append(state)
    finally:
        if ledger:
            ledger.close()
    return out


def decide(project: Project, episode: str, gate: str, decision: str, who: str,
           why: str = "", *, shot: str | None = None,
           expected: str | None = None) -> gates.GateStatus:
    """Record a decision through the gates API: A -> ``budget.approve_gate_a`` /
    ``reject_gate_a``; B -> ``gates.review_shot`` on ``shot``'s current take; C ->
    ``gates.decide_master`` on the latest render's master."""
    if gate not in GATES:
        raise StudioError(f"unknown gate {gate!r}", field="gate", hint="gates: A, B, C")
    if decision not in ("approved", "rejected"):
        raise StudioError(f"unknown decision {decision!r}", field="decision",
                          hint="approved or rejected")
    if not who.strip():
        raise StudioError("say who decides", field="who", hint="type your name")
    if decision == "rejected" and not why.strip():
        raise StudioError("a rejection needs a reason", field="why",
                          hint="write what must change")
    approve, who, why = decision == "approved", who.strip(), why.strip()
    ledger = project.ledger()
    try:
        ep = project.storyboard(episode).episode
        if gate == "A":
            from studio_kit.production.budget import approve_gate_a, reject_gate_a

            if approve:
                approve_gate_a(project, ep, who=who, note=why, ledger=ledger)
            else:
                reject_gate_a(project, ep, who=who, note=why, ledger=ledger)
            state, by = gates.budget_state(ledger, project, ep)
            return gates.GateStatus(gate="A", subject="budget", state=state, who=by, why=why)
        if gate == "B":
            if not shot:
                raise StudioError("a Gate B decision is about one shot", field="shot",
                                  hint="pick the shot's row")
            take = gates.current_takes(ledger, ep).get(shot)
            if not take:
                raise StudioError(f"shot {shot} has no take to review", field="shot",
                                  hint="render the episode first")
            if expected and take != expected:
                raise StudioError(f"shot {shot} has a new take since this page was drawn",
                                  field="shot", hint="refresh and review the new take")
            return gates.review_shot(ledger, ep, shot, approve=approve, who=who, why=why,
                                     asset=take)
        render = gates.latest_render(ledger, ep)
        master = render.get("master") if render else None
        if not master:
            raise StudioError(f"episode {ep} has no rendered master to review",
                              field="gate C", hint="render the episode first")
        if expected and file_hash(Path(master)) != expected:
            raise StudioError(f"episode {ep}'s master changed since this page was drawn",
                              field="gate C", hint="refresh and review the new master")
        return gates.decide_master(ledger, ep, master, approve=approve, who=who, why=why)
    finally:
        ledger.close()


def publish(project: Project, episode: str, dest: str | Path | None = None) -> Path:
    """Publish the latest render's master through ``gates.publish``, which refuses unless
    Gate C approved exactly that file (a master changed since re-opens the gate). The copy
    goes to ``<project>/out/published/<episode><ext>`` unless ``dest`` is given."""
    ledger = project.ledger()
    try:
        ep = project.storyboard(episode).episode
        render = gates.latest_render(ledger, ep)
        master = render.get("master") if render else None
        if not master:
            raise StudioError(f"episode {ep} has no rendered master to publish",
                              field="gate C", hint="render the episode first")
        target = Path(dest) if dest else (project.root / "out" / "published"
                                          / f"{ep}{Path(master).suffix or '.mp4'}")
        return gates.publish(ledger, ep, master, target)
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

    def _buttons(self, episode: str, gate: str, ready: bool, shot: str | None = None,
                 expected: str | None = None) -> list[w.Button]:
        """Approve/reject what the row shows (``expected``: the take's or master's hash)."""
        ok = w.Button(description=f"Approve {gate}", button_style="success", disabled=not ready)
        no = w.Button(description=f"Reject {gate}", button_style="danger", disabled=not ready)
        ok.on_click(lambda _b: self._decide(episode, gate, "approved", shot, expected))
        no.on_click(lambda _b: self._decide(episode, gate, "rejected", shot, expected))
        return [ok, no]

    def refresh(self) -> None:
        rows: list[w.Widget] = []
        for st in gate_states(self.project):
            summary = " ".join(f"{g}:{st[g]}" for g in GATES)
            label = w.HTML(f"<b>{html.escape(st['episode'])}</b> {html.escape(st['title'])}"
                           f" <small>({html.escape(summary)})</small>",
                           layout=w.Layout(width="420px"))
            g = st["pending"]
            # offered on every rendered episode; refused (with the reason) until Gate C
            pub = [self._publish_button(st["episode"])] if st.get("rendered") else []
            if g is None:
                rows.append(w.HBox([label, w.HTML("all gates approved"), *pub]))
                continue
            waiting = "" if st["ready"] else " (waits for a render)"
            info = w.HTML(f"gate {g} ({GATES[g]}){waiting}")
            if g == "B" and st["ready"]:  # one decision per shot, on its current take
                rows.append(w.HBox([label, info, *pub]))
                for s in st["shots"]:
                    if not s["take"]:
                        continue
                    text = (f"&nbsp;&nbsp;{html.escape(s['shot'])} <small>take "
                            f"{html.escape(s['take'][:12])}: {html.escape(s['state'])}"
                            + (f" ({html.escape(s['why'])})" if s["why"] else "")
                            + "</small>")
                    row = w.HBox([w.HTML(text, layout=w.Layout(width="420px")),
                                  *self._buttons(st["episode"], "B", True, s["shot"],
                                                 s["take"])])
                    row.add_class("studio-gate-shot")
                    rows.append(row)
                continue
            rows.append(w.HBox([label, info, *self._buttons(
                st["episode"], g, st["ready"], expected=st.get("master_hash") if g == "C"
                else None), *pub]))
        self.rows.children = rows or [w.HTML("<i>No storyboarded episodes.</i>")]

    def _publish_button(self, episode: str) -> w.Button:
        """Publish is offered beside Gate C; ``gates.publish`` refuses it without Gate C on
        the current master, and the refusal is shown."""
        b = w.Button(description="Publish", tooltip="copy the approved master to "
                     "out/published (needs Gate C on this master)")
        b.add_class("studio-publish")
        b.on_click(lambda _b: self._publish(episode))
        return b

    def _publish(self, episode: str) -> Path | None:
        try:
            dest = publish(self.project, episode)
        except StudioError as err:
            self.message.value = ("<span class='studio-publish-refused' style='color:#b00020'>"
                                  f"{html.escape(str(err))}</span>")
            return None
        self.message.value = ("<span class='studio-published'>"
                              + html.escape(f"published episode {episode} to {dest}")
                              + "</span>")
        return dest

    def _decide(self, episode: str, gate: str, decision: str, shot: str | None = None,
                expected: str | None = None) -> None:
        try:
            decide(self.project, episode, gate, decision, self.who.value, self.why.value,
                   shot=shot, expected=expected)
        except StudioError as err:
            self.message.value = f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
            return
        what = f"shot {shot} of episode {episode}" if shot else f"episode {episode}"
        self.message.value = html.escape(f"gate {gate} {decision} for {what}")
        self.refresh()
