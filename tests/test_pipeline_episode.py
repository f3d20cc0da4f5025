"""The episode render end to end at small size: real engine, eSpeak, ffmpeg, C2PA, ledger.

One cold render of a trimmed sample episode (3 shots, a fade, a dissolve, a French line,
title, act and hook cards) at 160x90 is shared by the tests; the incremental test works on a copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import srt
import yaml

from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.provenance import TRAINED_ALGORITHMIC_MEDIA, verify
from studio_kit.store.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
KEEP = {"cold-open": ["s02-cliff-mara"], "act-one": ["s06-lamp-mara2", "s07-cafe-wide"],
        "tag": []}
OPTS = RenderOptions(engine="local", width=160, height=90)


def small_sample(dest: Path) -> Path:
    """The sample series with episode 01 cut down to 3 short shots."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio", "out"))
    path = dest / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(path.read_text())
    for act in sb["acts"]:
        act["shots"] = [s for s in act["shots"] if s["id"] in KEEP[act["id"]]]
        for s in act["shots"]:
            s["duration_s"] = 1.0  # the dialogue sets the length
    path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = small_sample(tmp_path_factory.mktemp("ep") / "lighthouse")
    result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    return root, result


def test_master_streams_and_durations(rendered) -> None:
    root, result = rendered
    assert result.stage_summary["hits"] == 0
    with av.open(result.master) as c:
        v = c.streams.video[0]
        audio = list(c.streams.audio)
        subs = list(c.streams.subtitles)
        assert (v.codec_context.width, v.codec_context.height) == (160, 90)
        video_s = v.frames / float(v.average_rate)
        assert abs(video_s - result.duration_s) < 1e-6
        assert [a.language for a in audio] == ["eng", "fra"]
        assert [s.language for s in subs] == ["eng", "fra"]
        for a in audio:
            assert a.codec_context.name == "aac"
            assert abs(float(a.duration * a.time_base) - video_s) < 1 / 24 + 0.025
    # the shots plus title, act and hook cards, minus the fade and dissolve overlaps
    assert result.duration_s > sum(s.duration_s for s in result.shots)
    with av.open(result.prores) as c:
        assert c.streams.video[0].codec_context.name == "prores"
        frame = next(c.decode(video=0))
        assert frame.format.name.startswith("yuv422p10")
    summary = json.loads((Path(result.out_dir) / "episode-01.qc.json").read_text())
    assert abs(summary["loudness"]["integrated_lufs"] - (-14.0)) < 1.0
    assert summary["loudness"]["true_peak_dbtp"] <= -1.0 + 0.1


def test_captions_and_sound_match_dialogue_and_picture(rendered) -> None:
    root, result = rendered
    subs = list(srt.parse(Path(result.captions["en"]["srt"]).read_text()))
    fr = list(srt.parse(Path(result.captions["fr"]["srt"]).read_text()))
    assert len(subs) >= 3 and len(fr) >= 3
    # the French line is captioned in English in the English track, and vice versa
    def flat(caps) -> str:
        return " ".join(" ".join(c.content.split()) for c in caps)

    assert "lighthouse keeper" in flat(subs)
    assert "Vous êtes la gardienne" in flat(fr)
    assert "That's the problem" in flat(fr)  # no French translation: the original is kept
    assert Path(result.captions["en"]["vtt"]).read_text().startswith("WEBVTT")
    # each English caption starts where its line's speech starts in the conformed dialogue
    # stem (the TTS's own leading silence measured on the line alone), within one frame
    from studio_kit.audio import SAMPLE_RATE
    from studio_kit.audio.dialogue import speak_line
    from studio_kit.project.series_folder import Project

    project = Project.load(root)
    sb = project.storyboard("01")
    x, sr = sf.read(Path(result.out_dir) / "audio" / "stems" / "dialogue.wav", always_2d=True)
    env = np.abs(x).max(axis=1)
    lines = [(s.id, i, ln) for s in sb.shots for i, ln in enumerate(s.dialogue)]
    assert len(subs) == len(lines)
    for cap, (sid, i, line) in zip(subs, lines, strict=True):
        alone = np.abs(speak_line(project.characters, line, shot_id=sid, index=i).samples)
        lead = np.argmax(alone > 0.05 * alone.max()) / SAMPLE_RATE
        start = cap.start.total_seconds()
        window = env[int((start - 0.2) * sr):int((start + 0.5) * sr)]
        onset = start - 0.2 + np.argmax(window > 0.05 * window.max()) / sr
        assert abs(onset - (start + lead)) <= 1 / 24, (cap.content, onset, start, lead)
        shot = next(s for s in result.shots if s.shot_id == sid)
        assert shot.start_s <= start < shot.start_s + shot.duration_s


def test_c2pa_on_shots_and_master(rendered) -> None:
    root, result = rendered
    assert set(result.shot_reports) == {s.shot_id for s in result.shots}
    for report_path in result.shot_reports.values():
        rep = json.loads(Path(report_path).read_text())
        assert rep["valid_apart_from_trust"] and not rep["trusted"]
        assert rep["digital_source_types"] == [TRAINED_ALGORITHMIC_MEDIA]
    master = verify(result.master)
    assert master.valid_apart_from_trust and master.development_credentials
    assert master.actions.count("c2pa.placed") == len(result.shots)
    assert {"c2pa.edited", "c2pa.transcoded", "c2pa.color_adjustments"} <= set(master.actions)
    assert [i.title for i in master.ingredients] == [f"{s.shot_id}.mp4" for s in result.shots]
    assert all(i.engine == "local" for i in master.ingredients)
    on_disk = json.loads(Path(result.provenance_report).read_text())
    assert on_disk["sha256"] == master.sha256
    mov = verify(result.prores)
    assert mov.valid_apart_from_trust and mov.actions == ["c2pa.opened", "c2pa.transcoded"]


def test_no_secrets_in_outputs_or_ledger(rendered) -> None:
    root, result = rendered
    key = (root / ".studio" / "c2pa" / "dev-signer.key").read_bytes()
    secret_b64 = b"".join(key.splitlines()[1:-1])
    for path in [*Path(result.out_dir).rglob("*"), root / ".studio" / "ledger.sqlite"]:
        if path.is_file():
            assert secret_b64[:40] not in path.read_bytes(), path


def test_one_shot_dialogue_edit_redoes_only_that_shot(rendered, tmp_path: Path) -> None:
    src, first = rendered
    root = tmp_path / "lighthouse"
    shutil.copytree(src, root)
    path = root / "episodes" / "01" / "storyboard.yaml"
    text = path.read_text()
    assert "Nobody. That's the problem." in text
    path.write_text(text.replace("Nobody. That's the problem.", "Nobody. That is the problem."))
    again = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    missed = {(s.stage, s.subject) for s in again.stages if not s.cache_hit}
    # lamp_room's only shot is the edited one, so its reference look is measured again
    assert {m for m in missed if m[0] == "reference"} <= {("reference", "lamp_room")}
    missed = {m for m in missed if m[0] != "reference"}
    per_shot = {m for m in missed if m[1] is not None}
    assert {m[1] for m in per_shot} == {"s06-lamp-mara2"}
    assert {m[0] for m in per_shot} == {"dialogue", "prompt", "generate", "sign", "grade", "qc"}
    episode_level = {m[0] for m in missed if m[1] is None}
    assert episode_level <= {"assemble", "mix", "conform", "captions", "mux", "prores",
                             "certify", "summary"}
    with Ledger(root / ".studio" / "ledger.sqlite") as ledger:
        rows = ledger.query("SELECT stage, subject, cache_hit FROM stage_results "
                            "WHERE run_id=?", (again.run_id,))
        hits = {(r["stage"], r["subject"]) for r in rows if r["cache_hit"]}
        others = {s.shot_id for s in first.shots} - {"s06-lamp-mara2"}
        assert {sub for st, sub in hits if st != "reference"} - {None} == others
        for stage in ("dialogue", "prompt", "generate", "sign", "grade", "qc"):
            assert {(stage, sid) for sid in others} <= hits
    new = {s.shot_id: s for s in again.shots}
    old = {s.shot_id: s for s in first.shots}
    assert new["s06-lamp-mara2"].asset != old["s06-lamp-mara2"].asset
    assert all(new[k].asset == old[k].asset for k in old if k != "s06-lamp-mara2")
    assert "That is the problem" in Path(again.captions["en"]["srt"]).read_text()
    assert verify(again.master).valid_apart_from_trust


def test_papermill_notebook_is_the_record(rendered) -> None:
    import nbformat

    from studio_kit.pipeline import NOTEBOOK, run_notebook

    source = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")
    root, result = rendered
    path = run_notebook(root, "01", OPTS, out_dir=root / "out")
    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    # every render option is one validated parameter: the RenderOptions as JSON
    line = next(ln for ln in params.source.splitlines() if ln.startswith("options_json = "))
    assert RenderOptions.model_validate_json(eval(line.split(" = ", 1)[1])) == OPTS
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "master:" in text and "valid apart from trust: True" in text
    plots = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")
             and any("holoviews" in k or "bokeh" in k for k in o.get("data", {}))]
    assert len(plots) >= 4  # shot timeline, cost, QC, loudness
    key = (root / ".studio" / "c2pa" / "dev-signer.key").read_text().splitlines()[1]
    assert key not in path.read_text()
    with Ledger(root / ".studio" / "ledger.sqlite") as ledger:  # the run's record
        last = ledger.query("SELECT id, status, record FROM runs ORDER BY id DESC LIMIT 1")[0]
        noted = ledger.query("SELECT run_id FROM stage_results WHERE stage='notebook' AND "
                             "key=?", (str(path),))
    assert last["status"] == "ok" and last["record"].endswith("render.json")
    assert [n["run_id"] for n in noted] == [last["id"]]  # the notebook noted beside the run
    again = run_notebook(root, "01", OPTS, out_dir=root / "out")
    assert again != path and path.is_file() and again.is_file()  # each run keeps its own


def test_series_look_lut_is_applied(rendered, tmp_path) -> None:
    """series.yaml's look_lut (a .cube read once per render) colours every graded shot: a
    LUT that drops blue gives a master with less blue than the same episode without it."""
    from studio_kit.colorimetry import colour_science
    from studio_kit.edit.grade import write_lut

    _, plain = rendered
    root = small_sample(tmp_path / "lighthouse")
    lut = colour_science().LUT3D(size=9)
    lut.table = lut.table * [1.0, 1.0, 0.5]
    write_lut(lut, root / "warm.cube")
    series = root / "series.yaml"
    series.write_text(series.read_text(encoding="utf-8") + "look_lut: warm.cube\n",
                      encoding="utf-8")
    looked = render_episode(root, "01", options=OPTS, out_dir=root / "out")

    def blue_ratio(master: str) -> float:
        with av.open(master) as c:
            f = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        return f[..., 2].mean() / max(f[..., 0].mean(), 1.0)

    assert blue_ratio(looked.master) < 0.8 * blue_ratio(plain.master)
