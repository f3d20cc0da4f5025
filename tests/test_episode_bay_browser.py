"""Episode Bay in a real browser (``studio serve`` on loopback, Debian Chromium): the
timeline shows the rendered sample's shots with thumbnails; moving a shot changes
storyboard.yaml (comments kept) and survives a reload; a per-shot rejection with a comment
reaches the ledger and shows on the timeline; the player plays the master."""

from __future__ import annotations

import shutil
import time

import pytest
from browser_support import BENIGN, LOAD_S, MARKS, ROOT

from studio_kit.cli.serve_commands import running_server
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project

pytestmark = MARKS
TOKEN = "episode-bay-token"
COMMENT = "# hand note: the cold open must stay under ten seconds\n"
SHOTS = ["s01-cliff-wide", "s02-cliff-mara", "s03-lamp-wide", "s04-lamp-mara"]


@pytest.fixture(scope="module")
def bay_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("bay")
    root = base / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", root,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    project = Project.load(root)
    sb = project.storyboard("01").model_copy(deep=True)
    sb.acts = sb.acts[:2]
    sb.acts[1].shots = sb.acts[1].shots[:2]  # 4 shots: a render costs seconds, not minutes
    path = project.save_storyboard(sb)
    path.write_text(COMMENT + path.read_text())
    render_episode(root, "01", options=RenderOptions(engine="local", width=160, height=90,
                                                      sign=False, prores=False),
                   out_dir=root / "out")
    with running_server(root, token=TOKEN, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "project": root}


def open_bay(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{server['url']}/voila/render/episode_bay.ipynb?token={TOKEN}",
              timeout=LOAD_S * 1000)
    try:
        page.wait_for_selector(".studio-episode-bay .studio-shot", timeout=LOAD_S * 1000)
    except Exception:
        raise AssertionError(f"no timeline; page shows:\n{page.inner_text('body')[:3000]}\n"
                             f"console: {errors}") from None
    return page, errors


def strip_order(page) -> list[str]:
    return page.eval_on_selector_all(".studio-strip .studio-shot",
                                     "els => els.map(e => e.dataset.shot)")


def check_clean(page, errors):
    text = page.inner_text("body")
    for bad in ("Traceback", "Error displaying widget", "javascript error"):
        assert bad not in text, f"page shows {bad!r}:\n{text[:3000]}"
    real = [e for e in errors if not any(b in e for b in BENIGN)]
    assert not real, f"JavaScript console errors: {real}"


def test_episode_bay_timeline_reorder_review_player(browser, bay_server, artifacts_dir):
    root = bay_server["project"]
    sb_path = root / "episodes" / "01" / "storyboard.yaml"
    page, errors = open_bay(browser, bay_server)
    # the timeline: every shot, each with a thumbnail (the take's middle frame), acts
    assert strip_order(page) == SHOTS
    assert page.locator(".studio-strip img.studio-thumb").count() == len(SHOTS)
    widths = page.eval_on_selector_all(".studio-strip img.studio-thumb",
                                       "els => els.map(e => e.naturalWidth)")
    assert all(wd > 0 for wd in widths)
    assert page.locator(".studio-strip .studio-act").count() == 2
    assert page.locator(".studio-strip .studio-tr-fade").count() == 1  # s02 -> act one
    wait_chart(page, artifacts_dir, "timeline")
    page.screenshot(path=str(artifacts_dir / "episode_bay_timeline.png"), full_page=True)

    # reorder: select s03 (first of act one) and move it left: it joins the cold open
    page.select_option(".studio-shot-pick select", "s03-lamp-wide")
    page.wait_for_selector(".studio-shot[data-shot='s03-lamp-wide'][style*='outline']",
                           timeout=30_000)
    page.click(".studio-move-left")
    deadline = time.time() + 30
    while time.time() < deadline:
        if len(Project.load(root).storyboard("01").acts[0].shots) == 3:
            break
        time.sleep(0.2)
    moved = ["s01-cliff-wide", "s02-cliff-mara", "s03-lamp-wide", "s04-lamp-mara"]
    sb = Project.load(root).storyboard("01")
    assert [s.id for s in sb.shots] == moved  # same order, but s03 is now in the cold open
    assert [s.id for s in sb.acts[0].shots] == SHOTS[:3]
    page.click(".studio-move-left")  # and once more: before s02
    want = ["s01-cliff-wide", "s03-lamp-wide", "s02-cliff-mara", "s04-lamp-mara"]
    page.wait_for_function(
        "(w) => [...document.querySelectorAll('.studio-strip .studio-shot')]"
        ".map(e => e.dataset.shot).join() === w", arg=",".join(want), timeout=30_000)
    assert [s.id for s in Project.load(root).storyboard("01").shots] == want
    assert sb_path.read_text().startswith(COMMENT)

    # review: reject s02 with a comment -> ledger, and the timeline shows it
    page.select_option(".studio-shot-pick select", "s02-cliff-mara")
    page.fill(".studio-who input", "ana")
    page.fill(".studio-why textarea", "her scarf is the wrong red")
    page.click(".studio-reject")
    page.wait_for_selector(".studio-shot.studio-state-rejected[data-shot='s02-cliff-mara']",
                           timeout=30_000)
    d = Project.load(root).ledger().latest_decision("01", "B", "s02-cliff-mara")
    assert (d["decision"], d["who"], d["why"]) == ("rejected", "ana",
                                                   "her scarf is the wrong red")
    assert len(d["subject_hash"]) == 64
    page.wait_for_function(  # the review panel is updated just after the strip
        "() => document.querySelector('.studio-take').innerText.includes('rejected')",
        timeout=30_000)

    # the player plays the master
    page.wait_for_selector("video.studio-player", timeout=30_000)
    page.eval_on_selector("video.studio-player", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video.studio-player').currentTime"
                           " > 0.5", timeout=30_000)
    tracks = page.eval_on_selector("video.studio-player",
                                   "v => [...v.textTracks].map(t => t.language)")
    assert tracks, "the master plays with its captions track"
    page.screenshot(path=str(artifacts_dir / "episode_bay_review_player.png"), full_page=True)
    check_clean(page, errors)
    page.close()

    # the reorder survives a reload
    page, errors = open_bay(browser, bay_server)
    assert strip_order(page) == want
    assert page.locator(".studio-shot.studio-state-rejected[data-shot='s02-cliff-mara']"
                        ).count() == 1
    # seek the player to the selected shot's record time
    page.select_option(".studio-shot-pick select", "s04-lamp-mara")
    page.click(".studio-seek")
    page.wait_for_function("() => { const v = document.querySelector('video.studio-player');"
                           " return v && parseFloat(v.dataset.start) > 0; }", timeout=30_000)
    page.eval_on_selector("video.studio-player", "v => { v.muted = true; return v.play(); }")
    start = float(page.eval_on_selector("video.studio-player", "v => v.dataset.start"))
    page.wait_for_function(f"() => document.querySelector('video.studio-player').currentTime"
                           f" > {start:.3f}", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "episode_bay_reloaded.png"), full_page=True)
    check_clean(page, errors)
    page.close()


#: the page position of a shot block / an act band on the Bokeh timeline chart, from the
#: plot's own scales (BokehJS views), so a click lands on the glyph whatever the layout
GLYPH_XY = """(t) => {
  let found = null;  // the newest chart on the page: a redrawn chart's old views linger
  for (const root of window.Bokeh.index) {
    const stack = [root];
    while (stack.length) {
      const v = stack.pop();
      if (v.frame && v.model && v.model.renderers && v.canvas_view) {
        const box = v.canvas_view.el.getBoundingClientRect();
        if (!v.canvas_view.el.isConnected || box.width === 0) continue;
        for (const r of v.model.renderers) {
          const d = r.data_source && r.data_source.data;
          if (!d || !d[t.col] || !d.left) continue;
          const i = Array.from(d[t.col]).indexOf(t.value);
          if (i < 0) continue;
          const sx = v.frame.x_scale.compute((d.left[i] + d.right[i]) / 2);
          const sy = v.frame.y_scale.compute((d.bottom[i] + d.top[i]) / 2);
          found = [box.left + sx, box.top + sy];
        }
      }
      if (v.child_views) stack.push(...v.child_views);
    }
  }
  return found;
}"""
HAND_SHOT_NOTE = "# hand note: the lamp must glow amber here\n"


def wait_chart(page, artifacts_dir, name: str) -> None:
    """The chart is drawn on a kernel thread after the cell (one render at a time, started
    by ``post_run_cell`` or, failing that, a timer): wait for its canvas, fail at once on a
    chart error. Should it still be missing, the chart box's text is kept as an artifact
    (``drawing ... (started)`` = the render ran long; without ``started`` = never began)
    and the page is loaded once more."""
    chart = ".studio-timeline-chart .bk-Canvas, .studio-timeline-chart canvas"
    # Playwright's CSS pierces the open shadow roots BokehJS draws in (querySelector
    # does not: a probe written with it never sees the canvas)
    either = f"{chart}, .studio-timeline-chart .studio-chart-failed"
    try:
        page.wait_for_selector(either, timeout=LOAD_S * 1000)
    except Exception:
        box = page.inner_text(".studio-timeline-chart")
        (artifacts_dir / f"episode_bay_{name}_chart_late.txt").write_text(box)
        page.screenshot(path=str(artifacts_dir / f"episode_bay_{name}_chart_late.png"),
                        full_page=True)
        page.reload(timeout=LOAD_S * 1000)
        page.wait_for_selector(either, timeout=LOAD_S * 1000)
    assert "timeline chart failed" not in page.inner_text(".studio-timeline-chart")
    page.wait_for_selector(chart, timeout=30_000)
    page.wait_for_function("() => window.Bokeh && [...window.Bokeh.index].length > 0",
                           timeout=30_000)


def tap(page, col: str, value: str) -> None:
    """Click the glyph once its place on the page has settled (a pick fills the review
    panel above the chart, which moves it)."""
    xy = last = None
    deadline = time.time() + 60
    while time.time() < deadline:
        page.locator(".studio-timeline-chart").scroll_into_view_if_needed()
        xy = page.evaluate(GLYPH_XY, {"col": col, "value": value})
        if xy is not None and xy == last:
            break
        last = xy
        time.sleep(0.4)
    assert xy is not None and xy == last, f"no settled {col} {value} on the chart"
    page.mouse.click(*xy)


def test_chart_tap_moves_shots(browser, bay_server, artifacts_dir):
    """On the timeline chart: tap a shot, then another shot (it takes its place, in that
    shot's act), then a shot and an act's band (the end of that act): storyboard.yaml
    changes, ids stay, comments stay with their shots, and the order survives a reload."""
    root = bay_server["project"]
    sb_path = root / "episodes" / "01" / "storyboard.yaml"
    text = sb_path.read_text()
    anchor = next(ln for ln in text.splitlines(keepends=True)
                  if ln.strip() == "- id: s04-lamp-mara")
    sb_path.write_text(text.replace(anchor, anchor[: len(anchor) - len(anchor.lstrip())]
                                    + HAND_SHOT_NOTE + anchor, 1))
    before = Project.load(root).storyboard("01")
    ids = [s.id for s in before.shots]
    page, errors = open_bay(browser, bay_server)
    wait_chart(page, artifacts_dir, "tap")
    first = ids[0]
    last_act = before.acts[-1]
    mover = last_act.shots[-1].id  # the last shot of the last act takes the first's place
    tap(page, "shot", mover)
    page.wait_for_selector(f".studio-chart-armed[data-shot='{mover}']", timeout=30_000)
    tap(page, "shot", first)
    want = [mover] + [i for i in ids if i != mover]
    page.wait_for_function(
        "(w) => [...document.querySelectorAll('.studio-strip .studio-shot')]"
        ".map(e => e.dataset.shot).join() === w", arg=",".join(want), timeout=30_000)
    sb = Project.load(root).storyboard("01")
    assert [s.id for s in sb.shots] == want
    assert sb.acts[0].shots[0].id == mover  # into the first act
    # then a shot onto the last act's band: to the end of that act
    second = want[1]
    wait_chart(page, artifacts_dir, "tap2")
    tap(page, "shot", second)
    page.wait_for_selector(f".studio-chart-armed[data-shot='{second}']", timeout=30_000)
    tap(page, "act", last_act.id)
    deadline = time.time() + 30
    while time.time() < deadline:
        sb = Project.load(root).storyboard("01")
        if sb.acts[-1].shots and sb.acts[-1].shots[-1].id == second:
            break
        time.sleep(0.2)
    assert [s.id for s in sb.acts[-1].shots][-1:] == [second], (
        page.inner_text(".studio-form-general, .studio-episode-bay")[:2500],
        page.evaluate(GLYPH_XY, {"col": "act", "value": last_act.id}))
    assert sorted(s.id for s in sb.shots) == sorted(ids)  # ids stable, none lost
    for s in sb.shots:  # the content of every shot unchanged
        assert s == before.shot(s.id)
    text = sb_path.read_text()
    assert text.startswith(COMMENT)
    i = text.index(HAND_SHOT_NOTE)
    assert text[i + len(HAND_SHOT_NOTE):].lstrip().startswith("- id: s04-lamp-mara")
    page.screenshot(path=str(artifacts_dir / "episode_bay_chart_tap.png"), full_page=True)
    check_clean(page, errors)
    order = [s.id for s in sb.shots]
    page.close()
    page, errors = open_bay(browser, bay_server)
    assert strip_order(page) == order
    check_clean(page, errors)
    page.close()


def test_player_switches_audio_track_and_captions(browser, bay_server, artifacts_dir):
    """The master's sound (original, then the French dub) and its caption language are
    picked in the page; each switch re-seeks to the selected shot and plays."""
    from studio_kit.edit.probe import probe

    root = bay_server["project"]
    page, errors = open_bay(browser, bay_server)
    shot = SHOTS[-1]  # the last shot on the rendered master (its record time > 0)
    page.select_option(".studio-shot-pick select", shot)
    page.wait_for_selector(f".studio-shot[data-shot='{shot}'][style*='outline']",
                           timeout=30_000)
    page.wait_for_selector("video.studio-player[data-audio='eng']", timeout=30_000)
    labels = page.eval_on_selector_all(".studio-audio-pick select option",
                                       "os => os.map(o => o.textContent)")
    assert [x.replace("\xa0", " ") for x in labels] == ["eng (original)", "fra (dub)"]
    page.select_option(".studio-audio-pick select", index=1)  # the labels use nbsp
    page.wait_for_selector("video.studio-player[data-audio='fra']", timeout=30_000)
    start = float(page.eval_on_selector("video.studio-player", "v => v.dataset.start"))
    assert start > 0  # seeks to the selected shot, not to 0
    page.eval_on_selector("video.studio-player", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("(s) => document.querySelector('video.studio-player').currentTime"
                           " > s", arg=start, timeout=30_000)
    showing = ("() => [...document.querySelector('video.studio-player').textTracks]"
               ".filter(t => t.mode === 'showing').map(t => t.language).join()")
    page.wait_for_function(f"() => ({showing})() === 'en'", timeout=30_000)
    # the file the page plays carries the dub as its one sound
    remuxed = sorted((root / ".studio" / "player").glob("*-a1.mp4"))
    assert remuxed, "the dub's player file"
    assert [a.language for a in probe(remuxed[-1], packets=False).of_type("audio")] == ["fra"]
    page.select_option(".studio-caption-pick select", label="fr")
    page.wait_for_selector("video.studio-player[data-captions='fr']", timeout=30_000)
    page.wait_for_function(f"() => ({showing})() === 'fr'", timeout=30_000)
    assert page.eval_on_selector("video.studio-player", "v => v.dataset.audio") == "fra"
    page.eval_on_selector("video.studio-player", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("(s) => document.querySelector('video.studio-player').currentTime"
                           " > s", arg=start, timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "episode_bay_player_dub.png"), full_page=True)
    check_clean(page, errors)
    page.close()
