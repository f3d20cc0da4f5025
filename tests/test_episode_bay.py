"""Episode Bay logic: the timeline model, reorder / move-to-act keeping ids and the file's
comments, per-shot edits validated before save, pacing figures, Gate B per shot."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from studio_kit.errors import StudioError, ValidationFailed
from studio_kit.production.gates import GateError
from studio_kit.project.series_folder import Project
from studio_kit.surfaces import episode_bay as bay

ROOT = Path(__file__).resolve().parents[1]
COMMENT = "# the director wants this beat held: do not trim\n"


@pytest.fixture
def project(tmp_path) -> Project:
    dst = tmp_path / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", dst,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    sb = dst / "episodes" / "01" / "storyboard.yaml"
    text = sb.read_text()
    # a hand comment inside the last act, far from the shots the tests move
    text = text.replace("  - id: s10-cliff-beam\n", "  " + COMMENT + "  - id: s10-cliff-beam\n")
    assert COMMENT in text
    sb.write_text(text)
    return Project.load(dst)


def ids(sb):
    return [s.id for s in sb.shots]


def test_timeline_model_times_acts_transitions_overlaps(project):
    sb = project.storyboard("01")
    # make one J-cut and one L-cut to see the overlaps
    sb = bay.update_shot(sb, "s03-lamp-wide", {"transition": {"kind": "j_cut", "duration_s": 0.5}})
    sb = bay.update_shot(sb, "s04-lamp-mara", {"transition": {"kind": "l_cut"}})
    tl = bay.timeline_model(sb, {"s01-cliff-wide": "approved"})
    assert [s.id for s in tl.shots] == ids(sb)
    assert tl.shots[0].start_s == 0 and tl.shots[1].start_s == sb.shots[0].duration_s
    assert tl.duration_s == pytest.approx(sb.duration_s)
    assert [a.id for a in tl.acts] == [a.id for a in sb.acts]
    assert tl.acts[1].start_s == pytest.approx(sum(s.duration_s for s in sb.acts[0].shots))
    assert len(tl.transitions) == len(tl.shots) - 1
    assert tl.transitions[1][1] == "fade"  # s02 fades to the next act
    j, l_ = tl.overlaps
    s03 = next(s for s in tl.shots if s.id == "s03-lamp-wide")
    assert (j.kind, j.from_shot, j.to_shot) == ("j_cut", "s04-lamp-mara", "s03-lamp-wide")
    assert (j.start_s, j.end_s) == pytest.approx((s03.end_s - 0.5, s03.end_s))
    assert l_.kind == "l_cut" and l_.end_s - l_.start_s == pytest.approx(0.75)
    assert tl.shots[0].state == "approved" and tl.shots[1].state == "open"
    s02 = next(s for s in tl.shots if s.id == "s02-cliff-mara")
    assert s02.dialogue and s02.dialogue[0][0] == "mara"


def test_reorder_and_move_keep_ids_and_comments_and_survive_reload(project):
    sb = project.storyboard("01")
    before = ids(sb)
    moved = bay.step_shot(sb, "s03-lamp-wide", 1)
    assert ids(sb) == before  # the loaded storyboard is untouched (a copy was edited)
    assert sorted(ids(moved)) == sorted(before)
    assert ids(moved)[2:4] == ["s04-lamp-mara", "s03-lamp-wide"]
    t0 = time.perf_counter()
    path = bay.save(project, moved)
    assert time.perf_counter() - t0 < 2.0  # measured properly in bench/episode_bay_bench.py
    text = path.read_text()
    assert COMMENT in text
    again = Project.load(project.root).storyboard("01")
    assert ids(again) == ids(moved)
    # move to another act, and across an act boundary with a step
    to_act = bay.move_shot(again, "s01-cliff-wide", act="act-one", index=0)
    assert to_act.act_of("s01-cliff-wide").id == "act-one"
    assert to_act.acts[1].shots[0].id == "s01-cliff-wide"
    bay.save(project, to_act)
    reloaded = Project.load(project.root).storyboard("01")
    assert reloaded.act_of("s01-cliff-wide").id == "act-one"
    assert COMMENT in path.read_text()
    first_of_act = reloaded.acts[1].shots[0].id
    back = bay.step_shot(reloaded, first_of_act, -1)
    assert back.acts[0].shots[-1].id == first_of_act
    with pytest.raises(StudioError, match="no act"):
        bay.move_shot(reloaded, "s01-cliff-wide", act="act-nine")
    with pytest.raises(StudioError, match="no shot"):
        bay.step_shot(reloaded, "nope", 1)


def test_shot_edit_validated_before_save(project):
    sb = project.storyboard("01")
    path = project.episode("01").storyboard_path
    on_disk = path.read_bytes()
    with pytest.raises(ValidationFailed) as err:
        bay.update_shot(sb, "s01-cliff-wide", {"camera": {"movement": {"type": "pan",
                                                                       "direction": "up"}}},
                        path)
    p = err.value.problems[0]
    assert bay.shot_field_loc(p.field) == "camera.movement"
    assert "cannot move up" in p.message
    with pytest.raises(ValidationFailed):
        bay.update_shot(sb, "s01-cliff-wide", {"duration_s": -1}, path)
    bad_scene = bay.update_shot(sb, "s01-cliff-wide", {"scene": "moon_base"}, path)
    with pytest.raises(ValidationFailed, match="unknown scene .moon_base."):
        bay.save(project, bad_scene)
    with pytest.raises(StudioError, match="id cannot change"):
        bay.update_shot(sb, "s01-cliff-wide", {"id": "other"})
    assert path.read_bytes() == on_disk
    # every angle and movement (with direction and speed) validates and saves
    from studio_kit.models.storyboard import _DIRECTIONS, CameraAngle, Movement
    for angle in CameraAngle:
        bay.update_shot(sb, "s01-cliff-wide", {"camera": {"angle": angle.value}})
    for mv in Movement:
        for d in sorted(_DIRECTIONS[mv]) or [None]:
            bay.update_shot(sb, "s01-cliff-wide", {"camera": {"movement": {
                "type": mv.value, "direction": d.value if d else None, "speed": 0.8}}})
    ok = bay.update_shot(sb, "s01-cliff-wide", {
        "camera": {"angle": "low_angle", "movement": {"type": "crane", "direction": "up",
                                                      "speed": 0.9}},
        "duration_s": 5.5, "action": "The beam finds her.", "engine": "local",
        "dialogue": [{"character": "mara", "text": "There."}]})
    bay.save(project, ok)
    shot = Project.load(project.root).storyboard("01").shot("s01-cliff-wide")
    assert (shot.camera.angle.value, shot.camera.movement.type.value,
            shot.camera.movement.direction.value, shot.camera.movement.speed) == (
        "low_angle", "crane", "up", 0.9)
    assert shot.duration_s == 5.5 and shot.engine == "local" and shot.dialogue[0].text == "There."
    assert COMMENT in path.read_text()


def test_pacing_actual_vs_target_and_drift_warning(project):
    sb = project.storyboard("01")
    acts = sb.acts
    avg0 = sum(s.duration_s for s in acts[0].shots) / len(acts[0].shots)
    sb = bay.set_pacing(sb, acts[0].id, avg0)  # on target
    sb = bay.set_pacing(sb, acts[1].id, 1.0)  # way faster than it is
    rows = bay.pacing(sb)
    assert rows[0].drift == pytest.approx(0) and rows[0].warning is None
    assert rows[1].drift > 0.25 and "slower" in rows[1].warning
    assert rows[2].target_avg_shot_s is None and rows[2].warning is None
    assert rows[1].avg_shot_s == pytest.approx(
        sum(s.duration_s for s in acts[1].shots) / len(acts[1].shots))
    # 24 % off is within tolerance, 26 % is not
    t = rows[0].avg_shot_s
    assert bay.pacing(bay.set_pacing(sb, acts[0].id, t / 1.24))[0].warning is None
    assert bay.pacing(bay.set_pacing(sb, acts[0].id, t / 1.26))[0].warning
    # the end hook kept short (max_duration_s) and the storyboard-wide default target
    data = sb.model_copy(deep=True)
    data.acts[-1].max_duration_s = 1.0
    data.target_avg_shot_s = 100.0
    last = bay.pacing(data)[-1]
    assert last.target_avg_shot_s == 100.0 and "longer than" in last.warning
    with pytest.raises(StudioError):
        bay.set_pacing(sb, acts[0].id, 0)
    bay.save(project, bay.set_pacing(project.storyboard("01"), acts[1].id, 2.5))
    assert Project.load(project.root).storyboard("01").acts[1].target_avg_shot_s == 2.5


def test_review_needs_a_take_and_a_comment(project, tmp_path):
    led = project.ledger()
    with pytest.raises(GateError, match="no take"):
        bay.review(project, "01", "s01-cliff-wide", "reject", who="ana", why="too dark")
    # a take: a regeneration record (as produce_shot writes after a render)
    import json
    led.stage_result(None, "regeneration", "01:s01-cliff-wide:1", cache_hit=False,
                     subject="s01-cliff-wide", outputs={"asset": "a" * 64, "attempt": 1})
    assert json  # outputs stored as JSON by the ledger
    with pytest.raises(GateError, match="note"):
        bay.review(project, "01", "s01-cliff-wide", "reject", who="ana", why=" ")
    st = bay.review(project, "01", "s01-cliff-wide", "regenerate", who="ana",
                    why="scarf is the wrong red")
    assert st.state.value == "rejected"
    d = led.latest_decision("01", "B", "s01-cliff-wide")
    assert (d["who"], d["subject_hash"]) == ("ana", "a" * 64)
    assert "scarf is the wrong red" in d["why"]
    states, takes = bay.gate_states(project, "01")
    assert states["s01-cliff-wide"] == "rejected" and takes["s01-cliff-wide"] == "a" * 64
    r = bay.shot_review(project, "01", "s01-cliff-wide")
    assert r.state == "rejected" and r.who == "ana" and r.take_path is None
    with pytest.raises(StudioError, match="unknown review action"):
        bay.review(project, "01", "s01-cliff-wide", "maybe", who="ana")


def test_thumbnails_scene_preview_before_a_take(project):
    thumbs = bay.thumbnails(project, "01", takes={})
    sb = project.storyboard("01")
    assert set(thumbs) == set(ids(sb))
    assert all(p.startswith(b"\x89PNG") for p in thumbs.values())
    by_scene: dict[str, set[bytes]] = {}
    for s in sb.shots:
        by_scene.setdefault(s.scene, set()).add(thumbs[s.id])
    assert all(len(v) == 1 for v in by_scene.values())  # one preview per scene
    assert len({next(iter(v)) for v in by_scene.values()}) == len(by_scene)


def test_reorder_moves_the_shot_lines_with_their_comment(project, monkeypatch):
    path = project.episode("01").storyboard_path
    note = "  # Theo's line is the turn of the act\n"
    path.write_text(path.read_text().replace("  - id: s05-lamp-theo\n",
                                             note + "  - id: s05-lamp-theo\n"))
    project = Project.load(project.root)
    sb = project.storyboard("01")
    # s05 (inside act one, a comment above it) moves to the front of the cold open
    moved = bay.move_shot(sb, "s05-lamp-theo", act=sb.acts[0].id, index=0)
    calls: list[object] = []
    monkeypatch.setattr(type(project), "save_storyboard",
                        lambda self, s: calls.append(s) or path)
    assert bay.save(project, moved) == path
    assert calls == []  # the lines were moved, not the file re-dumped
    text = path.read_text()
    assert note + "  - id: s05-lamp-theo\n" in text
    assert text.index("s05-lamp-theo") < text.index("s01-cliff-wide")
    assert COMMENT + "  - id: s10-cliff-beam\n" in text
    again = Project.load(project.root)
    assert ids(again.storyboard("01")) == ids(moved)
    assert again.storyboard("01") == moved
    # the bay's project holds what is on disk: the next move starts from it
    assert project.storyboard("01") == moved
    # a move plus another edit is not a pure move: the merging save handles it
    both = bay.update_shot(bay.step_shot(moved, "s01-cliff-wide", 1), "s01-cliff-wide",
                           {"duration_s": 9.0})
    bay.save(project, both)
    assert len(calls) == 1
    # a file changed on disk since it was loaded: not moved by lines either
    monkeypatch.undo()
    fresh = Project.load(project.root)
    path.write_text(path.read_text().replace("title: The Lighthouse at Kerbrat",
                                             "title: The Lighthouse"))
    bay.save(fresh, bay.step_shot(fresh.storyboard("01"), "s02-cliff-mara", 1))
    final = Project.load(project.root).storyboard("01")
    assert final.title == "The Lighthouse"  # the disk edit was merged, not reverted
    assert [x.id for x in final.acts[0].shots] == ["s05-lamp-theo", "s01-cliff-wide"]
    assert final.acts[1].shots[0].id == "s02-cliff-mara"
    assert COMMENT in path.read_text() and note in path.read_text()
    # the hook's only shot moves out: the act keeps 'shots: []' and its comment
    p2 = Project.load(project.root)
    emptied = bay.move_shot(p2.storyboard("01"), "s10-cliff-beam", act=sb.acts[0].id)
    monkeypatch.setattr(type(p2), "save_storyboard", lambda self, s: calls.append(s) or path)
    bay.save(p2, emptied)
    assert len(calls) == 1 and "shots: []" in path.read_text()
    assert Project.load(project.root).storyboard("01") == emptied


def test_widget_messages_beside_controls_and_moves(project):
    from widgets.episode_bay import EpisodeBay

    path = project.episode("01").storyboard_path
    page = EpisodeBay(project, chart=False)
    assert page.shot_pick.value == "s01-cliff-wide" and page.act_pick.value == "cold-open"
    assert page.strip.value.count("class='studio-shot ") == len(project.storyboard("01").shots)
    on_disk = path.read_bytes()
    page.e_move.value, page.e_dir.value = "pan", "up"
    page.save_btn.click()
    assert "cannot move up" in page.form.message("camera.movement.direction").value
    page.e_dir.value, page.e_scene.value = "left", "lamp_room"
    page.e_dialogue.value = "no speaker here"
    page.save_btn.click()
    assert "no speaker" in page.form.message("dialogue").value
    assert path.read_bytes() == on_disk
    page.e_dialogue.value = "mara: Who lit it?"
    page.save_btn.click()  # the cross-file check: mara's mark is not in the lamp room
    assert "has no mark" in page.form.message("characters").value
    assert path.read_bytes() == on_disk
    page.e_scene.value = "cliff_path"
    page.save_btn.click()
    assert "saved s01-cliff-wide" in page.form.general.value
    shot = Project.load(project.root).storyboard("01").shot("s01-cliff-wide")
    assert (shot.scene, shot.camera.movement.direction.value, shot.dialogue[0].text) == (
        "cliff_path", "left", "Who lit it?")
    page.select("s03-lamp-wide")
    page.act_pick.value = "cold-open"
    page.to_act.click()
    assert Project.load(project.root).storyboard("01").act_of("s03-lamp-wide").id == "cold-open"
    assert COMMENT in path.read_text()
    page.pace_act.value = "act-one"
    page.pace_target.value = 1.0
    page.pace_btn.click()
    assert "pacing-warning" in page.pacing_html.value
    assert Project.load(project.root).storyboard("01").acts[1].target_avg_shot_s == 1.0


def test_chart_taps_wired_to_moves(project):
    """The chart's Bokeh sources call the gesture when their selection changes (as
    jupyter_bokeh applies a tap from the page): pick, then a shot (its place), then a pick
    and an act band (that act's end); each saves storyboard.yaml keeping comments."""
    import holoviews as hv
    from bokeh.models import GlyphRenderer, TapTool

    from studio_kit.surfaces import episode_bay as bay_logic
    from widgets.episode_bay import EpisodeBay, timeline_plot

    hv.extension("bokeh", logo=False)
    path = project.episode("01").storyboard_path
    page = EpisodeBay(project, chart=False)
    fig = hv.render(timeline_plot(page.timeline), backend="bokeh")
    page._wire_taps(fig)
    srcs = {col: r.data_source for r in fig.select(type=GlyphRenderer)
            for col in ("shot", "act") if col in r.data_source.data}
    taps = list(fig.select(type=TapTool))
    assert taps and all(set(t.renderers) >= {r for r in fig.select(type=GlyphRenderer)
                                            if r.data_source in srcs.values()} for t in taps)
    before = ids(project.storyboard("01"))
    shot_rows = list(srcs["shot"].data["shot"])
    srcs["shot"].selected.indices = [shot_rows.index("s05-lamp-theo")]
    assert page._armed == "s05-lamp-theo" and page.selected == "s05-lamp-theo"
    srcs["shot"].selected.indices = [shot_rows.index("s02-cliff-mara")]
    sb = Project.load(project.root).storyboard("01")
    assert ids(sb)[:3] == ["s01-cliff-wide", "s05-lamp-theo", "s02-cliff-mara"]
    assert sb.act_of("s05-lamp-theo").id == "cold-open"
    assert "moved s05-lamp-theo to" in page.form.general.value
    # a pick, then the last act's band
    page.chart_gesture("shot", "s01-cliff-wide")
    act_rows = list(srcs["act"].data["act"])
    last = sb.acts[-1].id
    srcs["act"].selected.indices = [act_rows.index(last)]
    sb = Project.load(project.root).storyboard("01")
    assert sb.acts[-1].shots[-1].id == "s01-cliff-wide"
    assert sorted(ids(sb)) == sorted(before)
    assert COMMENT in path.read_text()
    assert page.chart_gesture("act", last) == "pick a shot first"
    assert bay_logic.DRIFT_TOLERANCE  # the module stays importable without a UI


def test_comment_above_an_acts_first_shot_travels_with_it(project):
    path = project.episode("01").storyboard_path
    note = "# hand note: the lamp room opens on silence\n"
    text = path.read_text()
    anchor = next(ln for ln in text.splitlines(keepends=True)
                  if ln.strip() == "- id: s03-lamp-wide")  # act one's first shot
    path.write_text(text.replace(anchor, anchor[: len(anchor) - len(anchor.lstrip())]
                                 + note + anchor, 1))
    project = Project.load(project.root)
    sb = project.storyboard("01")
    new = bay.move_shot(sb, "s03-lamp-wide", act="cold-open", index=0)
    bay.save(project, new)
    out = path.read_text()
    assert out.index(note) < out.index("- id: s03-lamp-wide") < out.index("- id: s01-cliff-wide")
    assert out[out.index(note) + len(note):].lstrip().startswith("- id: s03-lamp-wide")
    assert COMMENT in out
    assert ids(Project.load(project.root).storyboard("01"))[0] == "s03-lamp-wide"
