"""Two tiny rendered series under one root (for the Feature Bay tests): copies of the sample
series, cut to 1-2 one-second shots per episode, rendered on the local engine at 64x36."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from studio_kit.pipeline import RenderOptions, render_episode

ROOT = Path(__file__).resolve().parents[1]
OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


def small_series(dest: Path, shots: dict[str, int], title: str | None = None) -> Path:
    """A copy of samples/lighthouse keeping ``shots[ep]`` one-second shots of episode ep
    (from its first act), the other episodes removed; ``title`` renames the series."""
    shutil.copytree(ROOT / "samples" / "lighthouse", dest,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    for ep, n in shots.items():
        path = dest / "episodes" / ep / "storyboard.yaml"
        sb = yaml.safe_load(path.read_text())
        act = sb["acts"][0]
        act["shots"] = act["shots"][:n]
        for s in act["shots"]:
            s["duration_s"] = 1.0
        sb["acts"] = [act]
        path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    for ep in {p.name for p in (dest / "episodes").iterdir()} - set(shots):
        shutil.rmtree(dest / "episodes" / ep)
    if title:
        s = dest / "series.yaml"
        data = yaml.safe_load(s.read_text())
        data["title"] = title
        s.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return dest


def one_shot_per_act(dest: Path, episodes, title: str | None = None,
                     credits: dict | None = None) -> Path:
    """A copy of samples/lighthouse keeping the first shot of every act (one second each) of
    ``episodes``, so cold opens, acts and end hooks all stay; the other episodes removed;
    ``title`` / ``credits`` set in series.yaml."""
    shutil.copytree(ROOT / "samples" / "lighthouse", dest,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    for ep in episodes:
        path = dest / "episodes" / ep / "storyboard.yaml"
        sb = yaml.safe_load(path.read_text())
        for act in sb["acts"]:
            act["shots"] = act["shots"][:1]
            for s in act["shots"]:
                s["duration_s"] = 1.0
        path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    for ep in {p.name for p in (dest / "episodes").iterdir()} - set(episodes):
        shutil.rmtree(dest / "episodes" / ep)
    if title or credits:
        s = dest / "series.yaml"
        data = yaml.safe_load(s.read_text())
        if title:
            data["title"] = title
        if credits:
            data["credits"] = credits
        s.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return dest


def two_series(base: Path) -> dict[tuple[str, str], object]:
    """``base/lighthouse`` (episodes 01 and 02) and ``base/harbour`` (01, "Harbour
    Lights"), all rendered; returns the render results by (series, episode)."""
    a = small_series(base / "lighthouse", {"01": 2, "02": 1})
    b = small_series(base / "harbour", {"01": 1}, title="Harbour Lights")
    return {("lighthouse", "01"): render_episode(a, "01", options=OPTS),
            ("lighthouse", "02"): render_episode(a, "02", options=OPTS),
            ("harbour", "01"): render_episode(b, "01", options=OPTS)}


def approve_all(renders: dict, who: str = "reviewer") -> None:
    """Gate C: approve every rendered master (what a reviewer does in the command center)."""
    from studio_kit.production.gates import decide_master
    from studio_kit.store.ledger import Ledger

    for (_series, ep), r in renders.items():
        with Ledger(Path(r.project) / ".studio" / "ledger.sqlite") as ledger:
            decide_master(ledger, ep, r.master, approve=True, who=who)
