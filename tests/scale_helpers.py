"""A tiny 3-episode season for the scale tests: the sample's episodes 01 and 02 cut to a shot
or two each, and an episode 03 made from 02's storyboard."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from conftest import SAMPLE

from studio_kit.pipeline import RenderOptions

TINY = RenderOptions(engine="local", width=64, height=36, sign=False, prores=True,
                     languages=["en"])
SHOTS = {"01": 2, "02": 1, "03": 2}


def _cut(path: Path, keep: int, episode: str) -> None:
    sb = yaml.safe_load(path.read_text())
    sb["episode"] = episode
    left = keep
    for act in sb["acts"]:
        act["shots"] = act["shots"][:left]
        left -= len(act["shots"])
        for s in act["shots"]:
            s["duration_s"] = 1.0
    sb["acts"] = [a for a in sb["acts"] if a["shots"]] or sb["acts"][:1]
    path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))


def tiny_season(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio", "out"))
    eps = dest / "episodes"
    shutil.copytree(eps / "02", eps / "03")
    for ep, n in SHOTS.items():
        _cut(eps / ep / "storyboard.yaml", n, ep)
    return dest
