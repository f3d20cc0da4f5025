"""`studio render` on broken input: exit code 2 and a message naming file, line and fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio_kit.cli import main

STUDIO = Path(sys.executable).with_name("studio")


def test_render_broken_project_exits_2(sample_dir: Path) -> None:
    sb = sample_dir / "episodes" / "01" / "storyboard.yaml"
    sb.write_text(sb.read_text().replace("scene: lamp_room", "scene: lamp_rom", 1))
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps at the terminal width
    proc = subprocess.run([str(STUDIO), "render", str(sample_dir), "01", "--width", "160",
                           "--height", "90"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 2, proc.stderr
    assert "storyboard.yaml:" in proc.stderr and "unknown scene 'lamp_rom'" in proc.stderr
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (sample_dir / "out").exists()  # nothing rendered, no run started


def test_render_usage_errors_exit_2(tmp_path: Path, sample_dir: Path, capsys) -> None:
    def err() -> str:
        return " ".join(capsys.readouterr().err.split())

    assert main(["render", str(tmp_path / "missing"), "01"]) == 2
    assert "project folder not found" in err()
    (tmp_path / "empty").mkdir()
    assert main(["render", str(tmp_path / "empty"), "01"]) == 2
    assert "no series.yaml" in err()
    assert main(["render", str(sample_dir), "07"]) == 2
    assert "no episode '07'" in err()
    assert main(["render", str(sample_dir), "01", "--width", "161", "--height", "90"]) == 2
    assert "161x90" in err()


@pytest.mark.heavy
def test_studio_demo_renders_the_sample_at_series_size(tmp_path: Path) -> None:
    """What `make demo` runs: the whole sample episode at 640x360 on the local engine."""
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.run([str(STUDIO), "demo", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=3600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    master = tmp_path / "out" / "episode-01" / "episode-01.mp4"
    assert f"master: {master}" in " ".join(proc.stderr.split())
    import av

    with av.open(str(master)) as c:
        v = c.streams.video[0].codec_context
        assert (v.width, v.height) == (640, 360)
        assert len(c.streams.audio) == 2 and len(c.streams.subtitles) == 2


def test_studio_render_small_episode_end_to_end(tmp_path: Path, capsys) -> None:
    """`studio render` itself (the default run's version of `make demo`): routing decides
    the engines (no key set: the local engine), the summary and the master are printed."""
    from test_pipeline_episode import small_sample

    from studio_kit.cli import main

    root = small_sample(tmp_path / "lighthouse")
    assert main(["render", str(root), "01", "--width", "160", "--height", "90"]) == 0
    err = " ".join(capsys.readouterr().err.split())  # the CLI reports on stderr
    master = root / "out" / "episode-01" / "episode-01.mp4"
    assert "rendered episode 01" in err and "master: " in err and "episode-01.mp4" in err
    assert master.is_file()
