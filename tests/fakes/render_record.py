"""A render run in the ledger with its ``render.json``, without rendering: what the gates,
status and the gate queue read after ``studio render``."""

from __future__ import annotations

from pathlib import Path

from studio_kit.project.series_folder import Project


def fake_render_record(p: Project, tmp_path: Path, master_bytes: bytes = b"master v1") -> Path:
    """A render run in the ledger with its render.json (the pipeline's RenderResult model):
    one take per shot and a master file."""
    from studio_kit.engines.base import RenderFormat
    from studio_kit.pipeline.episode import RenderResult, ShotRecord

    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    master = out / "episode-01.mp4"
    master.write_bytes(master_bytes)
    sb = p.storyboard("01")
    with p.ledger() as led:
        run = led.start_run("render", "01")
        result = RenderResult(
            project=str(p.root), series=p.series.title, episode="01", run_id=run,
            out_dir=str(out), format=RenderFormat(width=160, height=90, fps=24), tier="draft",
            master=str(master),
            shots=[ShotRecord(shot_id=s.id, act="1", scene=s.scene, duration_s=s.duration_s,
                              asset=f"take1-{s.id}") for s in sb.shots])
        record = out / "render.json"
        record.write_text(result.model_dump_json(indent=2))
        led.finish_run(run, "ok", record=str(record))
    return master
