"""The stage runner with small real stages (ffmpeg encodes), a real vault and ledger."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from studio_kit.pipeline.runner import ProgressEvent, StageProduct, StageRunner
from studio_kit.store.ledger import Ledger
from studio_kit.store.vault import Vault

FF = imageio_ffmpeg.get_ffmpeg_exe()


def _colour_stage(colour: str, seconds: float, calls: list[str]):
    def fn(ctx):
        calls.append(colour)
        out = ctx.file(f"{colour}.mp4")
        subprocess.run([FF, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"color=c={colour}:size=64x36:rate=24:duration={seconds}",
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "12", str(out)],
                       check=True)
        ctx.progress(1.0, "encoded")
        return StageProduct(files={"clip": out}, meta={"colour": colour})
    return fn


def _concat_stage(paths: list[Path], calls: list[str], fail: bool = False):
    def fn(ctx):
        calls.append("concat")
        if fail:
            raise RuntimeError("disk full")
        lst = ctx.file("list.txt")
        lst.write_text("".join(f"file '{p}'\n" for p in paths))
        out = ctx.file("episode.mp4")
        subprocess.run([FF, "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
                        "-i", str(lst), "-c", "copy", str(out)], check=True)
        return StageProduct(files={"video": out})
    return fn


def _render(vault: Vault, ledger: Ledger, colours: list[str], calls: list[str],
            events: list[ProgressEvent] | None = None, fail: bool = False):
    run_id = ledger.start_run("render", "01")
    runner = StageRunner(vault, ledger, run_id, events.append if events is not None else None)
    clips = [runner.run("clip", {"colour": c, "s": 0.5}, _colour_stage(c, 0.5, calls),
                        subject=f"shot{i}") for i, c in enumerate(colours)]
    ep = runner.run("concat", [c.digest("clip") for c in clips],
                    _concat_stage([c.path("clip") for c in clips], calls, fail))
    ledger.finish_run(run_id)
    return run_id, runner, ep


def test_cache_hits_and_partial_invalidation(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    calls: list[str] = []
    events: list[ProgressEvent] = []
    run1, r1, ep1 = _render(vault, ledger, ["red", "green", "blue"], calls, events)
    assert calls == ["red", "green", "blue", "concat"]
    assert r1.summary() == {"stages": 4, "hits": 0, "misses": 4}
    with av.open(str(ep1.path("video"))) as c:
        assert c.streams.video[0].frames == 36
    assert {e.status for e in events} >= {"start", "progress", "done"}

    calls.clear()
    run2, r2, ep2 = _render(vault, ledger, ["red", "green", "blue"], calls)
    assert calls == [] and r2.summary()["hits"] == 4
    assert ep2.digest("video") == ep1.digest("video")

    calls.clear()  # edit one "shot": only it and the assembly run again
    run3, r3, _ = _render(vault, ledger, ["red", "yellow", "blue"], calls)
    assert calls == ["yellow", "concat"]
    rows = ledger.query("SELECT stage, subject, cache_hit, seconds FROM stage_results "
                        "WHERE run_id=? ORDER BY id", (run3,))
    assert [(r["stage"], r["subject"], r["cache_hit"]) for r in rows] == [
        ("clip", "shot0", 1), ("clip", "shot1", 0), ("clip", "shot2", 1), ("concat", None, 0)]
    assert all(r["seconds"] is not None for r in rows)


def test_interrupted_run_resumes_from_cache(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="disk full"):
        _render(vault, ledger, ["red", "green"], calls, fail=True)
    failed = ledger.query("SELECT stage, status FROM stage_results WHERE status='failed'")
    assert failed == [{"stage": "concat", "status": "failed"}]
    calls.clear()
    _render(vault, ledger, ["red", "green"], calls)
    assert calls == ["concat"]  # the clips came from the cache
    assert not list((vault.root / "tmp").glob("concat-*"))  # scratch folders cleaned


def test_missing_object_reruns_stage(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    calls: list[str] = []
    _, _, ep = _render(vault, ledger, ["red"], calls)
    ep.path("video").unlink()  # someone deleted a vault object
    calls.clear()
    _render(vault, ledger, ["red"], calls)
    assert calls == ["concat"]



