"""Edit Suite logic (studio_kit.edit.decisions): trims, transitions, J/L offsets and grades
on storyboard copies, validated before anything is written; a trim re-renders without a
new generation and shortens the master by the trimmed amount."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from studio_kit.edit import decisions as d
from studio_kit.edit.grade import adjust_rgb
from studio_kit.errors import StudioError
from studio_kit.models import ShotGrade, TransitionKind
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project
from studio_kit.surfaces.render_job import RenderJob

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
KEEP = {"cold-open": ["s02-cliff-mara"], "act-one": ["s06-lamp-mara2", "s07-cafe-wide"],
        "tag": []}
OPTS = RenderOptions(engine="local", width=160, height=90, sign=False, prores=False)
SHOT = "s07-cafe-wide"


def small_sample(dest: Path) -> Path:
    """The sample series with episode 01 cut down to 3 short shots (a comment kept)."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio", "out"))
    path = dest / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(path.read_text())
    for act in sb["acts"]:
        act["shots"] = [s for s in act["shots"] if s["id"] in KEEP[act["id"]]]
        for s in act["shots"]:
            s["duration_s"] = 2.0
    path.write_text("# hand note: keep this comment\n"
                    + yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    return dest


def master_seconds(path: str | Path) -> float:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return float(v.frames / v.average_rate)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = small_sample(tmp_path_factory.mktemp("suite") / "lighthouse")
    t0 = time.perf_counter()
    result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    return root, result, time.perf_counter() - t0, master_seconds(result.master)


# -- logic ---------------------------------------------------------------------------------


def test_edits_work_on_copies_and_bad_values_write_nothing(sample_project) -> None:
    sb = sample_project.storyboard("01")
    first = sb.shots[0].id
    new = d.trim_shot(sb, first, 0.5, 0.25)
    assert (new.shot(first).trim_in_s, new.shot(first).trim_out_s) == (0.5, 0.25)
    assert sb.shot(first).trim_in_s == 0  # the loaded storyboard is untouched
    assert d.changed_shots(sb, new) == {first: ["trim_in_s", "trim_out_s"]}
    cases = [
        (lambda: d.trim_shot(sb, first, -0.1, 0), "trim_in_s", "negative"),
        (lambda: d.trim_shot(sb, first, 3.0, 1.0), "trim", "leaves nothing"),
        (lambda: d.trim_shot(sb, first, 1.0, 0.5, take_s=1.2), "trim", "longer than its"),
        (lambda: d.set_transition(sb, first, "dissolve", 3.5), "transition", "longer than"),
        (lambda: d.set_transition(sb, first, "swirl"), "transition", "not a transition"),
        (lambda: d.set_audio_offset(sb, first, j_s=0.5, l_s=0.5), "l_s", "J-cut and an L"),
        (lambda: d.set_grade(sb, first, {"exposure": 7}), "exposure", "less than"),
        (lambda: d.set_grade(sb, first, {"match_to": first}), "match_to", "own look"),
        (lambda: d.set_grade(sb, first, {"match_to": "nope"}), "match_to", "not a shot"),
    ]
    for fn, fld, words in cases:
        with pytest.raises(d.EditError) as err:
            fn()
        assert err.value.problems[0].field == fld, (fld, str(err.value))
        assert words in str(err.value)


def test_transition_and_jl_offsets(sample_project) -> None:
    sb = sample_project.storyboard("01")
    a = sb.shots[0].id
    new = d.set_transition(sb, a, "wipe", 0.5)
    assert new.shot(a).transition.kind == TransitionKind.wipe
    assert new.shot(a).transition.seconds == 0.5
    j = d.set_audio_offset(new, a, j_s=0.4)
    assert (j.shot(a).transition.kind, j.shot(a).transition.seconds) == (TransitionKind.j_cut,
                                                                         0.4)
    back = d.set_audio_offset(j, a)
    assert back.shot(a).transition.kind == TransitionKind.cut
    graded = d.set_grade(sb, a, ShotGrade(exposure=0.5, match_to=sb.shots[1].id, lut=False))
    assert graded.shot(a).grade.exposure == 0.5
    assert d.set_grade(graded, a, ShotGrade()).shot(a).grade is None  # neutral: no block


def test_the_cli_validator_gives_the_same_errors(tmp_path) -> None:
    root = tmp_path / "lh"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".studio", "out"))
    path = root / "episodes" / "01" / "storyboard.yaml"
    text = path.read_text()
    first = Project.load(root).storyboard("01").shots[0].id
    bad = text.replace(f"id: {first}\n", f"id: {first}\n    trim_in_s: 30\n", 1)
    assert bad != text
    path.write_text(bad)
    with pytest.raises(StudioError) as err:
        Project.load(root).storyboard("01")
    assert "leaves nothing" in str(err.value)


def test_grade_controls_move_the_picture() -> None:
    grey = np.full((4, 4, 3), 0.5)
    assert np.allclose(adjust_rgb(grey, ShotGrade()), grey)
    assert adjust_rgb(grey, ShotGrade(exposure=1)).mean() > 0.6
    warm = adjust_rgb(grey, ShotGrade(temperature=0.5))
    assert warm[..., 0].mean() > warm[..., 2].mean() + 0.05  # warmer: red over blue
    assert np.ptp(adjust_rgb(np.array([[0.8, 0.2, 0.2]]), ShotGrade(saturation=0))) < 0.02


def test_trim_spans_cut_a_shots_sound(sample_project) -> None:
    sb = d.trim_shot(sample_project.storyboard("01"), "s01-cliff-wide", 0.5, 0.25)
    spans = d.trim_spans([("s01-cliff-wide", 0.0, 4.0), ("s02-cliff-mara", 4.0, 7.0)], sb)
    assert spans == [["s01-cliff-wide", 0.5, 3.75], ["s02-cliff-mara", 4.0, 7.0]]


# -- re-render after a trim ----------------------------------------------------------------


def test_trim_rerenders_shorter_without_a_new_generation(rendered) -> None:
    root, first, _, first_s = rendered
    proj = Project.load(root)
    sb = proj.storyboard("01")
    t0 = time.perf_counter()
    new = d.trim_shot(sb, SHOT, 0.25, 0.5)
    d.save(proj, new)
    save_ms = (time.perf_counter() - t0) * 1000
    assert save_ms < 200, save_ms
    text = (root / "episodes" / "01" / "storyboard.yaml").read_text()
    assert "# hand note: keep this comment" in text and "trim_out_s: 0.5" in text

    events: list[str] = []
    job = RenderJob(root, "01", options=OPTS, out_dir=root / "out",
                      on_progress=lambda j: events.append(j.done)).start().wait(600)
    assert job.error is None, job.error
    again = job.result
    ran = {(s.stage, s.subject) for s in again.stages if not s.cache_hit}
    assert not any(st in ("generate", "prompt", "dialogue") for st, _ in ran), ran
    assert ("grade", SHOT) in ran
    assert {sub for st, sub in ran if st == "grade"} == {SHOT}
    assert [s.asset for s in again.shots] == [s.asset for s in first.shots]  # same takes
    assert again.total_cost == first.total_cost
    shorter = first_s - master_seconds(again.master)
    assert shorter == pytest.approx(0.75, abs=1 / 24 + 1e-6)
    graded = Path(proj.vault().get(next(s.graded for s in again.shots if s.shot_id == SHOT)))
    take = proj.vault().get(next(s.asset for s in again.shots if s.shot_id == SHOT))
    assert master_seconds(take) - master_seconds(graded) == pytest.approx(0.75, abs=1e-6)
    # the last callback already sees the job done (the page shows the result from it)
    assert job.done and job.fraction == 1.0 and events[-1] is True and not events[0]


def test_grade_compare_before_after(rendered) -> None:
    root, first, _, _ = rendered
    proj = Project.load(root)
    sb = d.set_grade(proj.storyboard("01"), SHOT, {"exposure": 1.0, "lut": False})
    takes = d.takes_of(Path(first.out_dir) / "render.json", proj.vault())
    before, after = d.grade_compare(proj, sb, SHOT, takes=takes)
    assert before.shape == after.shape and before.ndim == 3
    assert after.mean() > before.mean() + 10  # a stop brighter
    with pytest.raises(d.EditError):
        d.grade_compare(proj, sb, SHOT, takes={})


# -- the surface's component (no browser) --------------------------------------------------


def test_edit_suite_component_validates_saves_and_compares(rendered, tmp_path) -> None:
    from widgets.edit_suite import EditSuite

    src = rendered[0]
    root = tmp_path / "lh"
    shutil.copytree(src, root)
    suite = EditSuite(root, "01", render_options=OPTS)
    suite.shot_select.value = SHOT
    path = root / "episodes" / "01" / "storyboard.yaml"
    on_disk = path.read_bytes()
    suite.trim_in.value = "-1"
    assert suite.save() is None
    assert "negative" in suite.form.message("trim_in_s").value
    suite.trim_in.value = "9"
    assert suite.save() is None
    assert "longer than its" in suite.form.message("trim").value  # the take, beside the trim
    assert path.read_bytes() == on_disk  # nothing written
    suite.trim_in.value = "0.25"
    suite.exposure.value = 1.0
    assert suite.compare()
    assert suite.before.value and suite.after.value and suite.before.value != suite.after.value
    assert suite.save() == path
    sb = Project.load(root).storyboard("01")
    assert sb.shot(SHOT).trim_in_s == 0.25 and sb.shot(SHOT).grade.exposure == 1.0
    assert "# hand note: keep this comment" in path.read_text()
