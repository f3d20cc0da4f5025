"""The surfaces' logic without a browser: real projects on disk, real engine previews, real
eSpeak, real papermill runs, a real HTTP server standing in for an OpenAI-compatible LLM."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from fakes.openai_chat import FakeChatServer
from fakes.render_record import fake_render_record

from studio_kit.errors import StudioError
from studio_kit.models import KeyLight
from studio_kit.project.series_folder import Project
from studio_kit.surfaces import builder as kit

ROOT = Path(__file__).resolve().parents[1]


# -- builder (studio_kit.surfaces.builder) -----------------------------------------------------------
@pytest.mark.parametrize("genre", kit.list_genres())
def test_every_genre_template_builds_a_valid_project(tmp_path, genre):
    p = kit.build_project(tmp_path / genre, kit.BuildRequest(title=f"A {genre} series",
                                                             genre=genre, cast_size=2))
    assert len(p.characters) == 2
    assert p.scenes and p.storyboard("01").shots
    assert p.series.genre == genre
    for shot in p.storyboard("01").shots:
        assert set(shot.character_ids) <= set(p.characters)


def test_cast_size_above_the_archetypes_still_validates(tmp_path):
    p = kit.build_project(tmp_path / "big", {"title": "Big", "genre": "comedy", "cast_size": 7})
    assert len(p.characters) == 7
    assert len({c.name for c in p.characters.values()}) == 7


MANUSCRIPT = """# The Harbour

Mara walked down to the harbour at dawn. Theo was already waiting with two coffees.
"You're late," said Theo.

Mara laughed and took a cup. "The lamp kept me up," Mara said.

## Chapter Two: The Tower

Inside the tower room, Mara climbed the stairs. Theo followed Mara without a word.
"""


def test_manuscript_chapters_become_acts_scenes_and_dialogue(tmp_path):
    p = kit.build_project(tmp_path / "novel", kit.BuildRequest(
        title="Novel", genre="mystery", source="manuscript", text=MANUSCRIPT, cast_size=4))
    assert sorted(p.characters) == ["mara", "theo"]
    sb = p.storyboard("01")
    assert [a.title for a in sb.acts] == ["The Harbour", "Chapter Two: The Tower"]
    assert len(p.scenes) == 2
    lines = [(d.character, d.text) for s in sb.shots for d in s.dialogue]
    assert ("theo", "You're late,") in lines
    assert ("mara", "The lamp kept me up,") in lines
    tower = next(s for s in p.scenes.values() if "TOWER" in s.name)
    assert tower.interior


def test_split_chapters_without_headings_is_one_chapter():
    assert kit.split_chapters("Just a paragraph.\n\nAnd another.") == [
        ("Chapter 1", "Just a paragraph.\n\nAnd another.")]
    assert kit.split_chapters("   ") == []


def test_script_source_goes_through_the_screenplay_importer(tmp_path):
    text = (ROOT / "samples/lighthouse/episodes/01/script.fountain").read_text()
    p = kit.build_project(tmp_path / "s", kit.BuildRequest(
        title="From a script", genre="mystery", source="script", text=text, tier="premium"))
    assert p.series.title == "From a script" and p.series.tier.value == "premium"
    assert {"mara", "theo"} <= set(p.characters)
    assert p.storyboard("01").shots
    assert not (p.root / "upload.fountain").exists()
    # placeholders name the script, not the temporary folder it was built in
    texts = [c.description for c in p.characters.values()] + [
        s.description for s in p.scenes.values()]
    assert texts and not any(".building" in t or "upload.fountain" in t for t in texts)
    assert any("the uploaded script:" in t for t in texts)


def test_a_failed_build_writes_nothing(tmp_path):
    dest = tmp_path / "nothing"
    with pytest.raises(StudioError):
        kit.build_project(dest, {"title": "x", "source": "manuscript", "text": "  "})
    with pytest.raises(StudioError) as err:
        kit.build_project(dest, {"title": "", "genre": "drama"})
    assert err.value.problems[0].field == "title"
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left either
    (dest / "keep.txt").parent.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(StudioError, match="not empty"):
        kit.build_project(dest, {"title": "x"})
    assert (dest / "keep.txt").read_text() == "mine"


@pytest.fixture
def llm_server(monkeypatch):
    with FakeChatServer() as fake:
        monkeypatch.setenv("STUDIO_LLM_BASE_URL", fake.url)
        monkeypatch.setenv("STUDIO_LLM_API_KEY", "test-key")
        yield fake


def test_idea_through_an_openai_compatible_llm(tmp_path, llm_server):
    llm_server.reply = "```json\n" + json.dumps({
        "title": "Salt", "logline": "A diver finds a door on the sea floor.",
        "characters": [{"name": "Noor Haddad", "description": "diver", "traits": ["bold"]},
                       {"name": "Ed Kemp", "description": "boat captain"}],
        "scenes": [{"name": "EXT. DIVE BOAT", "interior": False, "time_of_day": "morning"},
                   {"name": "INT. HARBOUR OFFICE", "interior": True}],
        "beats": [{"scene": 0, "action": "Noor rolls off the boat.", "cast": [0]},
                  {"scene": 1, "action": "Ed reads the permit.", "cast": [1], "speaker": 0,
                   "line": "There's a door down there."}]}) + "\n```"
    p = kit.build_project(tmp_path / "salt", kit.BuildRequest(
        title="Salt", genre="drama", text="A diver finds a door on the sea floor.",
        cast_size=2))
    assert sorted(c.name for c in p.characters.values()) == ["Ed Kemp", "Noor Haddad"]
    assert p.series.logline == "A diver finds a door on the sea floor."
    shots = p.storyboard("01").shots
    assert shots[1].dialogue[0].character == "haddad"
    path, auth, body = llm_server.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer test-key"
    assert "A diver finds a door" in body["messages"][-1]["content"]


def test_unusable_llm_output_is_a_studio_error_and_writes_nothing(tmp_path, llm_server):
    llm_server.reply = "I'd love to help! Here is a story..."
    with pytest.raises(StudioError, match="not usable"):
        kit.build_project(tmp_path / "x", kit.BuildRequest(title="X", text="an idea"))
    assert not (tmp_path / "x").exists()


# -- validation beside the controls ---------------------------------------------------------
def test_scene_controls_preview_follows_key_light_and_bad_values_write_nothing(sample_dir):
    from widgets.scene_controls import SceneControls

    sc = SceneControls(sample_dir, "lamp_room")
    sc.first_preview.join(120)
    first = sc.preview.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    sc.key._pick(KeyLight.back_left)
    assert sc.preview.value != first and sc.previews == 2
    path = sample_dir / "scenes" / "lamp_room.yaml"
    before = path.read_bytes()
    sc.fill.value = "lots"
    assert "number" in sc.form.message("lighting.fill_ratio").value
    assert sc.save() is None
    assert path.read_bytes() == before
    sc.fill.value = "2:1"
    assert sc.form.message("lighting.fill_ratio").value == ""
    assert sc.save() == path
    saved = Project.load(sample_dir).scenes["lamp_room"]
    assert saved.lighting.key == KeyLight.back_left and saved.lighting.fill_ratio == 2.0


def test_wardrobe_bad_colour_shows_beside_garments_and_writes_nothing(sample_dir):
    from widgets.talent_roster import TalentRoster

    roster = TalentRoster(sample_dir, "mara")
    path = sample_dir / "characters" / "mara.yaml"
    before = path.read_bytes()
    ed = roster.wardrobe
    assert ed.outfit.value == "work"
    ed.rows[0].colour.value = "yellow"
    assert ed.save() is False
    assert "is not a colour" in roster.form.message("wardrobe.outfits.work").value
    assert path.read_bytes() == before
    ed.rows[0].colour.value = "#aabbcc"
    ed.rows[0].name.value = "storm jacket"
    assert ed.save() is True
    mara = Project.load(sample_dir).characters["mara"]
    assert mara.wardrobe.outfits["work"].garments[0].name == "storm jacket"
    assert mara.wardrobe.outfits["work"].garments[0].colours == ["#aabbcc"]


def test_removing_a_referenced_outfit_is_refused(sample_dir):
    from widgets import validation

    p = Project.load(sample_dir)
    data = p.characters["mara"].model_dump(mode="json", exclude_none=True)
    del data["wardrobe"]["outfits"]["town"]
    with pytest.raises(StudioError) as err:
        validation.save(p, "character", data)
    assert "town" in str(err.value)
    assert "town:" in (sample_dir / "characters" / "mara.yaml").read_text()


def test_voice_preview_speaks_wav_and_validates(sample_dir):
    from widgets.talent_roster import TalentRoster

    roster = TalentRoster(sample_dir, "elodie")
    vp = roster.voice
    wav = vp.preview()
    assert wav is not None and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert len(wav) > 10_000 and vp.audio.value == wav
    vp.language_text.value = "not a language!"
    assert vp.preview() is None
    assert "language" in roster.form.message("voice.language").value


def test_reference_image_upload(sample_dir, artifacts_dir):
    from PIL import Image

    from widgets.talent_roster import add_reference_image

    p = Project.load(sample_dir)
    import io
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buf, "PNG")
    add_reference_image(p, "theo", "front view.png", buf.getvalue())
    theo = Project.load(sample_dir).characters["theo"]
    assert theo.reference_images == ["characters/theo/front_view.png"]
    with pytest.raises(StudioError, match="cannot be read"):
        add_reference_image(p, "theo", "x.png", b"not a png")
    assert not (sample_dir / "characters/theo/x.png").exists()


def test_builder_form_messages_and_build(tmp_path):
    from widgets.builder import ProjectBuilder

    b = ProjectBuilder(tmp_path)
    assert b.build() is None  # no title
    assert b.form.message("title").value
    b.title_text.value = "Night Bakery"
    b.genre_select.value = "comedy"
    b.folder_name.value = "../escape"
    assert b.build() is None and "folder name" in b.form.message("folder").value
    b.folder_name.value = "night-bakery"
    p = b.build()
    assert p is not None and p.root == tmp_path / "night-bakery"
    assert Project.load(p.root).series.tier.value == "draft"  # the comedy default


# -- command center pieces ------------------------------------------------------------------
def test_gate_queue_and_budget_from_the_ledger(sample_dir):
    from widgets.budget_view import budget_plot, budget_rows
    from widgets.gate_queue import GateQueue, decide, gate_states

    p = Project.load(sample_dir)
    with p.ledger() as led:
        run = led.start_run("render", "01")
        call = led.begin_call(engine="runway", request_hash="h1", run_id=run)
        led.update_call(call, status="succeeded", cost=12.5)
        led.finish_run(run, "ok")
    rows = budget_rows(p)
    assert rows[0] == {"episode": "01", "budget": 60.0, "spent": 12.5}
    assert rows[-1]["episode"] == "series" and rows[-1]["spent"] == 12.5
    bars = budget_plot(p)
    assert len(bars.data) == 2 * len(rows)
    states = {s["episode"]: s for s in gate_states(p)}
    assert states["01"]["pending"] == "A" and states["01"]["ready"]
    with pytest.raises(StudioError, match="reason"):
        decide(p, "01", "A", "rejected", "ana")
    decide(p, "01", "A", "approved", "ana")
    assert {s["episode"]: s for s in gate_states(p)}["01"]["pending"] == "B"
    q = GateQueue(p)
    assert len(q.rows.children) == 2


def test_gate_queue_records_through_the_gates_api(sample_dir, tmp_path, keys):
    """The widget's decisions are the gates API's: Gate A is the estimate's approval, Gate B
    one decision per shot take, Gate C bound to the master's hash - so a Gate C given in the
    widget unlocks gates.publish, and status (and the CLI) read the same records."""
    from studio_kit.production import gates
    from studio_kit.surfaces.status import project_status
    from widgets.gate_queue import GateQueue, decide, gate_states

    p = Project.load(sample_dir)
    decide(p, "01", "A", "approved", "ana")
    with p.ledger() as led:
        d = led.latest_decision("01", "A", "budget")
        from studio_kit.production.budget import estimate_episode

        assert d["decision"] == "approved"
        assert d["subject_hash"] == estimate_episode(p, "01", ledger=led).estimate_hash
    st = {s["episode"]: s for s in gate_states(p)}["01"]
    assert st["pending"] == "B" and not st["ready"]  # nothing rendered yet
    with pytest.raises(StudioError, match="no take"):
        decide(p, "01", "B", "approved", "ana", shot="s01-cliff-wide")
    master = fake_render_record(p, tmp_path)
    shots = [s.id for s in p.storyboard("01").shots]
    st = {s["episode"]: s for s in gate_states(p)}["01"]
    assert st["ready"] and [s["shot"] for s in st["shots"]] == shots
    q = GateQueue(p)
    assert sum("studio-gate-shot" in r._dom_classes for r in q.rows.children) == len(shots)
    with pytest.raises(StudioError, match="one shot"):
        decide(p, "01", "B", "approved", "ana")
    decide(p, "01", "B", "rejected", "ana", "scarf is the wrong red", shot=shots[0])
    for sid in shots:
        decide(p, "01", "B", "approved", "ana", shot=sid)
    with p.ledger() as led:
        takes = gates.current_takes(led, "01")
        assert takes[shots[0]] == f"take1-{shots[0]}"
        assert gates.gate_b_complete(led, "01", takes) == []
        with pytest.raises(gates.GateError, match="not been reviewed"):
            gates.publish(led, "01", master, tmp_path / "pub" / "ep01.mp4")
    state = {s["episode"]: s for s in gate_states(p)}["01"]
    assert state["pending"] == "C"
    # a decision is about what the page showed: a take or master changed since is refused
    with pytest.raises(StudioError, match="new take since this page was drawn"):
        decide(p, "01", "B", "approved", "ana", shot=shots[0], expected="take0-old")
    with pytest.raises(StudioError, match="master changed since this page was drawn"):
        decide(p, "01", "C", "approved", "bo", expected="0" * 64)
    decide(p, "01", "C", "approved", "bo", "graded", expected=state["master_hash"])
    with p.ledger() as led:  # the widget's Gate C is the one publish checks
        dest = gates.publish(led, "01", master, tmp_path / "pub" / "ep01.mp4")
        assert dest.read_bytes() == b"master v1"
    n = len(shots)
    status = {e.episode: e for e in project_status(p).episodes}
    assert status["01"].gates == {"A": "approved", "B": f"approved ({n}/{n})",
                                  "C": "approved"}
    assert {s["episode"]: s for s in gate_states(p)}["01"]["pending"] is None
    # the master changes: Gate C re-opens everywhere; a new estimate re-opens Gate A
    master.write_bytes(b"master v2")
    assert project_status(p).episodes[0].gates["C"] == "reopened"
    assert {s["episode"]: s for s in gate_states(p)}["01"]["pending"] == "C"
    routing = p.root / "routing.yaml"
    routing.write_text(routing.read_text().replace("retry_allowance: 0.5",
                                                   "retry_allowance: 2"))
    assert project_status(p).episodes[0].gates["A"] == "reopened"
    # decisions made on the CLI show in the widget and status too
    from studio_kit.cli import main

    assert main(["gate", str(p.root), "01", "--gate", "C", "--master", str(master),
                 "--approve", "--who", "cy"]) == 0
    assert project_status(p).episodes[0].gates["C"] == "approved"


def _tiny_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('episode = "01"\nsteps = 3')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("total = steps * 2"),
                nbformat.v4.new_code_cell("print(episode, total)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_run_launcher_runs_papermill_with_progress(tmp_path):
    from widgets.run_launcher import NotebookRun, notebook_parameters, parse_parameters

    nb = tmp_path / "tiny.ipynb"
    _tiny_notebook(nb)
    known = notebook_parameters(nb)
    assert known == {"episode": {"name": "episode", "default": '"01"'},
                     "steps": {"name": "steps", "default": "3"}}
    params = parse_parameters({"episode": "02", "steps": "5"}, known)
    assert params == {"episode": "02", "steps": 5}  # "02" stays text, 5 is a number
    with pytest.raises(StudioError):
        parse_parameters({"nope": "1"}, known)
    seen = []
    run = NotebookRun(nb, tmp_path / "out" / "tiny-out.ipynb", params)
    run.on_update(lambda r: seen.append((r.status, r.done, r.total)))
    assert run.start().wait(120) == "ok", run.lines[-10:]
    assert run.done == run.total >= 3
    assert any(s == "running" and 0 < d for s, d, _ in seen)
    out = nbformat.read(tmp_path / "out" / "tiny-out.ipynb", as_version=4)
    assert "02 10" in json.dumps(out.cells[-1].outputs)


# -- serving --------------------------------------------------------------------------------
def test_serve_is_loopback_token_and_offline(tmp_path):
    from studio_kit.cli.serve_commands import TOKEN_ENV, private_dir, serve_env, voila_command

    cmd = voila_command(Path("notebooks"), 9999)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=9999" in cmd
    assert not any("token" in c.lower() for c in cmd)  # the token is never an argument
    assert "--MappingKernelManager.cull_connected=False" in cmd
    data = private_dir()
    env = serve_env(tmp_path, "tok", data, {"STUDIO_TOKEN": "tok"})
    assert env[TOKEN_ENV] == "tok" and "STUDIO_TOKEN" not in env
    assert env["BOKEH_RESOURCES"] == "inline" and env["STUDIO_PROJECT"] == str(tmp_path)
    tpl = Path(env["JUPYTER_PATH"].split(":")[0]) / "voila" / "templates" / "studio"
    assert "cdn.jsdelivr.net" not in (tpl / "index.html.j2").read_text()


def test_serve_rejects_a_broken_project(tmp_path):
    from studio_kit.cli import main

    assert main(["serve", str(tmp_path)]) == 2


def test_surface_notebooks_are_thin_and_without_outputs():
    for name in ("project_builder", "command_center", "talent_roster", "scene_workshop"):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert len(code) <= 4
        assert all(not c.outputs and c.execution_count is None for c in code)
        assert ("settings().project" in code[0].source  # STUDIO_PROJECT, studio_kit.settings
                or name == "project_builder")


def test_command_center_composes_status_chart_gates_and_launcher(sample_dir):
    from widgets.command_center import CommandCenter, episode_rows

    rows = episode_rows(Project.load(sample_dir))
    assert [r["episode"] for r in rows] == ["01", "02"] and rows[0]["stage"] == "storyboard"
    cc = CommandCenter(sample_dir, chart=False)  # the chart is checked in the browser test
    assert "render_episode.ipynb" in cc.launcher.notebook.options
    assert cc.launcher.param_fields["project"].value == str(sample_dir.resolve())
    assert cc.launcher.param_fields["episode"].value == "01"
    assert cc.chart_thread is None
    assert len(cc.gates.rows.children) == 2


def test_run_launcher_runs_only_the_served_project(sample_dir, tmp_path):
    """Free-text paths cannot render another project or write outside the served one."""
    from widgets.run_launcher import RunLauncher

    other = tmp_path / "other-project"
    other.mkdir()
    p = Project.load(sample_dir)
    launcher = RunLauncher(p)
    fields = launcher.param_fields
    fields["project"].value = str(other)
    assert launcher.start() is None and launcher.run is None
    assert "runs only the served project" in launcher.state_html.value
    fields["project"].value = str(sample_dir)
    for bad in ("../elsewhere", str(tmp_path / "out"), "/tmp"):
        fields["out_dir"].value = bad
        assert launcher.start() is None and launcher.run is None, bad
        assert "outside the project folder" in launcher.state_html.value
    assert not (sample_dir.parent / "elsewhere").exists() and not (tmp_path / "out").exists()
    fields["out_dir"].value = "out/tiny"  # relative: taken from the project folder
    params = launcher.parameters()
    assert params["out_dir"] == str((sample_dir / "out" / "tiny").resolve())
    assert params["project"] == str(sample_dir.resolve())


def test_publish_from_the_gate_queue_needs_gate_c_on_the_current_master(sample_dir, tmp_path):
    from studio_kit.production import gates
    from widgets.gate_queue import GateQueue, decide, gate_states, publish

    p = Project.load(sample_dir)
    master = fake_render_record(p, tmp_path)
    q = GateQueue(p)
    assert q._publish("01") is None  # no Gate C: refused, and the page says why
    assert "nothing is published without Gate C" in q.message.value
    dest = sample_dir / "out" / "published" / "01.mp4"
    assert not dest.exists()
    with pytest.raises(gates.GateError, match="without Gate C"):
        publish(p, "01")
    st = {s["episode"]: s for s in gate_states(p)}["01"]
    decide(p, "01", "C", "approved", "bo", expected=st["master_hash"])
    assert q._publish("01") == dest and dest.read_bytes() == b"master v1"
    master.write_bytes(b"master v2")  # a changed master re-opens Gate C
    with pytest.raises(gates.GateError, match="changed after it was approved"):
        publish(p, "01")
    q.refresh()
    assert any("studio-publish" in b._dom_classes for row in q.rows.children
               for b in getattr(row, "children", ()))
