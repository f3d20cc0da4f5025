"""Distribution measurements side by side in one run (issue 16):

1. 9:16 reframe of a 3-minute episode vs ffmpeg's plain centre crop of the same master at
   the same encode settings (``tiktok``: 1080x1920, a 3-minute episode fits its limit).
   The episode is the sample series' episode 01 rendered on the embedded engine (39 s,
   640x360, 13 items: shots, cards, fades) and joined end to end to 3 minutes (the
   timeline and render record repeated with the items' frames and times shifted, so
   every shot keeps its own engine request). Reframed twice: as ``deliver`` runs it (the
   subjects from the storyboard's engine geometry) and as footage no engine drew (the
   render record's requests dropped: the face detector on every shot);
2. the stress case: a person walking across a textured backdrop and back for 3 minutes
   (footage no engine drew; ``moving_face_clip``, seeded; the test clip of
   ``tests/test_distribution_reframe.py``): the reframe as ``deliver`` runs it (tracked
   while encoded, one decode: ``reframe_stream.reframe_encode``), and the previous way (the
   whole track, then the crop path, then the ``sendcmd`` encode), vs the centre crop;
3. thumbnail selection time per minute of footage (``thumbnails.choose_thumbnails``);
4. vault verify MB/s vs ``sha256sum`` on the same files (``bench/vault_bench.py``).

Each centre crop runs before and after what it is compared with (a shared machine's load
drifts); ratios are to the mean of the two.

    .venv/bin/python -m bench.distribution_bench [--minutes 3] [--size 640x360]
        [--episode-out DIR]  (a `studio demo --out DIR` already rendered: not re-rendered)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Elodie's head and shoulders in the cafe medium shot drawn at 640x360 (x0, y0, x1, y1)
PATCH = (230, 0, 410, 200)
#: the walk cycle (seconds): walk right, stand, walk left, stand
CYCLE = (4.0, 2.0, 4.0, 2.0)


@lru_cache(maxsize=1)
def person_patch() -> np.ndarray:
    """The person (RGB, 200x180) from the engine's drawing of s09 at 640x360."""
    from studio_kit.engines.base import RenderFormat
    from studio_kit.engines.local.engine import validate_request
    from studio_kit.production.routing import build_request
    from studio_kit.project.series_folder import Project
    from studio_kit.resources import sample_series

    project = Project.load(sample_series())
    req = build_request(project, "01", "s09-cafe-elodie", duration_s=1.0)
    req = req.model_copy(update={"format": RenderFormat(width=640, height=360, fps=24)})
    frame = validate_request(req).frame(0.5)
    x0, y0, x1, y1 = PATCH
    return np.ascontiguousarray(frame[y0:y1, x0:x1])


def walk_x(t: float, travel: float) -> float:
    """The person's left edge at time t: the walk cycle, eased at each end."""
    a, b, c, d = CYCLE
    t = t % (a + b + c + d)
    if t < a:
        u = t / a
    elif t < a + b:
        u = 1.0
    elif t < a + b + c:
        u = 1.0 - (t - a - b) / c
    else:
        u = 0.0
    return travel * (0.5 - 0.5 * np.cos(np.pi * u))


def moving_face_clip(dest: str | Path, *, seconds: float, width: int = 640, height: int = 360,
                     fps: int = 24, top: int = 40, seed: int = 16, audio: bool = True
                     ) -> list[tuple[int, int]]:
    """Write the walking-person clip (H.264, a quiet tone as sound); returns the patch's
    top-left corner per frame. ``top``: the patch's top row (a low one puts the face in
    the lower third; the patch is cut at the frame's bottom)."""
    import imageio_ffmpeg

    patch = person_patch()
    ph, pw = patch.shape[:2]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bg = np.stack([60 + 50 * xx / width, 70 + 40 * yy / height,
                   90 + 30 * np.sin(xx / 37.0)], axis=-1)
    bg = np.clip(bg + rng.normal(0, 6, bg.shape), 0, 255).astype(np.uint8)
    n = int(round(seconds * fps))
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=48000:duration={seconds}",
                 "-c:a", "aac", "-b:a", "96k", "-af", "volume=-12dB"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p",
             "-frames:v", str(n), str(dest)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    corners = []
    visible = min(ph, height - top)
    for i in range(n):
        x = int(round(walk_x(i / fps, width - pw)))
        frame = bg.copy()
        frame[top:top + visible, x:x + pw] = patch[:visible]
        corners.append((x, top))
        assert proc.stdin is not None
        proc.stdin.write(frame.tobytes())
    assert proc.stdin is not None
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg could not write the test clip")
    return corners


def clip_timeline(frames: int, width: int, height: int, fps: int = 24):
    """A one-shot timeline over a whole clip (what the reframe and thumbnails read)."""
    from studio_kit.edit.timeline import ItemKind, Timeline, TimelineItem

    item = TimelineItem(kind=ItemKind.shot, id="clip", frames=frames, record_start=0,
                        record_end=frames, audio_end=frames)
    return Timeline(episode="clip", fps_num=fps, width=width, height=height, items=[item])


def bench_reframe(master: Path, tl, tmp: Path, platform_name: str) -> dict:
    """The centre crop, the reframe as ``deliver`` runs it (tracked while encoded, one
    decode: ``reframe_stream.reframe_encode``), the previous way (the whole track, then
    the path, then the encode) and the centre crop again, one after the other on the same
    master; the ratios are to the mean of the two centre crops."""
    from studio_kit.distribution.deliver import _master_seconds, encode
    from studio_kit.distribution.platforms import platform
    from studio_kit.distribution.reframe import CropPath, crop_path, crop_size, subject_track
    from studio_kit.distribution.reframe_stream import reframe_encode

    spec = platform(platform_name)
    secs = _master_seconds(master)
    cw, ch = crop_size(tl.width, tl.height, spec.width, spec.height)
    n = tl.total_frames
    t0 = time.perf_counter()
    centre = CropPath(width=tl.width, height=tl.height, crop_w=cw, crop_h=ch,
                      fps=float(tl.fps), max_pan_px_s=0, x=[(tl.width - cw) // 2] * n,
                      y=[(tl.height - ch) // 2] * n)
    encode(master, spec, tmp / "centre.mp4", gain_db=0, path=centre, duration_s=secs)
    t_centre = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = reframe_encode(master, tl, {"shots": []}, None, spec, tmp / "reframe.mp4",
                          crop_w=cw, crop_h=ch, gain_db=0, duration_s=secs)
    t_reframe = time.perf_counter() - t0
    t0 = time.perf_counter()
    track = subject_track({"shots": []}, tl, None, master)
    t_track = time.perf_counter() - t0
    before = crop_path(track, tl, cw, ch, spec.max_pan)
    encode(master, spec, tmp / "reframe-before.mp4", gain_db=0, path=before, duration_s=secs)
    t_before = time.perf_counter() - t0
    t0 = time.perf_counter()  # the centre crop again: a shared machine's load drifts
    encode(master, spec, tmp / "centre2.mp4", gain_db=0, path=centre, duration_s=secs)
    t_centre2 = time.perf_counter() - t0
    t_centre_first, t_centre = t_centre, (t_centre + t_centre2) / 2
    return {"platform": spec.name, "out": f"{spec.width}x{spec.height}",
            "centre_crop_runs_s": [round(t_centre_first, 2), round(t_centre2, 2)],
            "centre_crop_s": round(t_centre, 2), "reframe_s": round(t_reframe, 2),
            "ratio": round(t_reframe / t_centre, 2),
            "before_track_then_encode_s": round(t_before, 2),
            "before_ratio": round(t_before / t_centre, 2),
            "before_of_which_subject_track_s": round(t_track, 2),
            "same_path": before.x == path.x and before.y == path.y,
            "face_inside_crop": round(float(path.inside().mean()), 4),
            "max_pan_px_s": round(float(path.speeds_px_s().max()), 1),
            "pan_bound_px_s": round(path.max_pan_px_s, 1)}


def bench_thumbnails(master: Path, tl, tmp: Path) -> dict:
    from studio_kit.distribution.thumbnails import choose_thumbnails

    t0 = time.perf_counter()
    picks = choose_thumbnails(master, tl, tmp / "thumbs", n=3)
    dt = time.perf_counter() - t0
    minutes = tl.duration_s / 60
    return {"thumbnail_s": round(dt, 2), "thumbnail_s_per_min": round(dt / minutes, 2),
            "thumbnails": len(picks)}


def bench_vault() -> dict:
    import shutil
    import statistics

    from bench.vault_bench import RUNS, _build, _sha256sum, _verify

    tmp = Path(tempfile.mkdtemp(prefix="vault-bench-"))
    try:
        vault, files, total = _build(tmp)
        _sha256sum(files)
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(_verify(vault))
            theirs.append(_sha256sum(files))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = total / 1e6
    v, s = statistics.median(ours), statistics.median(theirs)
    return {"vault_mb": round(mb), "verify_mb_s": round(mb / v), "sha256sum_mb_s": round(mb / s),
            "verify_over_sha256sum_time": round(v / s, 2)}


def sample_episode(out: Path) -> Path:
    """The sample episode rendered on the embedded engine (``studio demo --out out``);
    returns its folder (master, ``render.json``, timeline)."""
    import sys

    folder = out / "episode-01"
    if not (folder / "render.json").is_file():
        subprocess.run([sys.executable, "-m", "studio_kit.cli", "demo", "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
    return folder


def joined_episode(folder: Path, seconds: float, tmp: Path):
    """The rendered episode joined end to end until it lasts ``seconds`` (stream copy);
    returns (master, timeline, render record, vault) with the timeline's items and the
    record's shots repeated, shifted and renamed per copy (``<id>~<k>``)."""
    from studio_kit.edit.timeline import Timeline
    from studio_kit.project.series_folder import Project
    from studio_kit.video_encoding import ffmpeg_exe

    render = json.loads((folder / "render.json").read_text("utf-8"))
    tl = Timeline.model_validate_json(Path(render["timeline"]).read_text("utf-8"))
    one = tl.total_frames
    fps = float(tl.fps)
    copies = max(1, int(np.ceil(seconds * fps / one)))
    listing = tmp / "episodes.txt"
    listing.write_text("".join(f"file '{folder / Path(render['master']).name}'\n"
                               for _ in range(copies)), encoding="utf-8")
    master = tmp / "episode-3min.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(master)], check=True)
    items, shots = [], []
    for k in range(copies):
        off = k * one
        for it in tl.items:
            items.append(it.model_copy(update={
                "id": f"{it.id}~{k}", "record_start": it.record_start + off,
                "record_end": it.record_end + off, "audio_start": it.audio_start + off,
                "audio_end": it.audio_end + off}))
        shots += [{**r, "shot_id": f"{r['shot_id']}~{k}", "start_s": r["start_s"] + off / fps}
                  for r in render["shots"]]
    vault = Project.load(Path(render["project"])).vault()
    return master, tl.model_copy(update={"items": items}), {**render, "shots": shots}, vault


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_episode(folder: Path, seconds: float, tmp: Path, platform_name: str = "tiktok"
                  ) -> dict:
    """The 3-minute episode: centre crop, the reframe as ``deliver`` runs it (engine
    geometry), the reframe of the same pictures as footage no engine drew (detector),
    the centre crop again."""
    from studio_kit.distribution.deliver import encode
    from studio_kit.distribution.platforms import platform
    from studio_kit.distribution.reframe import CropPath, crop_size
    from studio_kit.distribution.reframe_stream import reframe_encode

    master, tl, render, vault = joined_episode(folder, seconds, tmp)
    spec = platform(platform_name)
    cw, ch = crop_size(tl.width, tl.height, spec.width, spec.height)
    n = tl.total_frames
    secs = min(seconds, n / float(tl.fps))
    centre = CropPath(width=tl.width, height=tl.height, crop_w=cw, crop_h=ch,
                      fps=float(tl.fps), max_pan_px_s=0, x=[(tl.width - cw) // 2] * n,
                      y=[(tl.height - ch) // 2] * n)

    def run(name: str, rec: dict):
        return reframe_encode(master, tl, rec, vault, spec, tmp / f"{name}.mp4", crop_w=cw,
                              crop_h=ch, gain_db=0, duration_s=secs)

    def still(name: str):
        return encode(master, spec, tmp / f"{name}.mp4", gain_db=0, path=centre,
                      duration_s=secs)

    _, c1 = _timed(lambda: still("ep-centre"))
    engine, t_engine = _timed(lambda: run("ep-engine", render))
    detected, t_detect = _timed(lambda: run("ep-detect", {**render, "shots": []}))
    _, c2 = _timed(lambda: still("ep-centre2"))
    c = (c1 + c2) / 2
    return {"episode_s": round(secs, 1), "episode_platform": spec.name,
            "episode_centre_crop_runs_s": [round(c1, 2), round(c2, 2)],
            "episode_reframe_engine_s": round(t_engine, 2),
            "episode_ratio_engine": round(t_engine / c, 2),
            "episode_reframe_detector_s": round(t_detect, 2),
            "episode_ratio_detector": round(t_detect / c, 2),
            "episode_max_pan_px_s": [round(float(p.speeds_px_s().max()), 1)
                                     for p in (engine, detected)],
            "episode_pan_bound_px_s": round(engine.max_pan_px_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--platform", default="shorts")
    ap.add_argument("--episode-out", type=Path, default=None,
                    help="a `studio demo --out` folder to reuse (else rendered here)")
    ap.add_argument("--no-episode", action="store_true", help="skip the episode part")
    ap.add_argument("--no-stress", action="store_true", help="skip the walking-person part")
    ap.add_argument("--no-vault", action="store_true", help="skip the vault verify part")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    seconds = a.minutes * 60
    row: dict = {"loadavg_start": open("/proc/loadavg").read().split()[:3]}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        if not a.no_episode:
            t0 = time.perf_counter()
            folder = sample_episode(a.episode_out or tmp / "demo")
            row["episode_render_s"] = round(time.perf_counter() - t0, 1)
            row.update(bench_episode(folder, seconds, tmp))
        if not a.no_stress:
            master = tmp / "clip.mp4"
            moving_face_clip(master, seconds=seconds, width=w, height=h)
            tl = clip_timeline(int(round(seconds * 24)), w, h)
            row.update({"master": f"{w}x{h}", "seconds": seconds})
            row.update(bench_reframe(master, tl, tmp, a.platform))
            row.update(bench_thumbnails(master, tl, tmp))
    if not a.no_vault:
        row.update(bench_vault())
    row["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
