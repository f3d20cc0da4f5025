"""Per-platform metadata (title, description, tags, language, chapters, credits) as JSON."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Chapter(BaseModel):
    start_s: float
    title: str
    act: str
    scenes: list[str] = Field(default_factory=list)


class Credit(BaseModel):
    role: str
    name: str


class Metadata(BaseModel):
    platform: str
    title: str
    description: str
    tags: list[str]
    language: str
    languages: list[str]
    duration_s: float
    chapters: list[Chapter]
    credits: list[Credit]
    captions: dict[str, str] = Field(default_factory=dict)
    thumbnails: list[str] = Field(default_factory=list)
    burned_captions: str | None = Field(None, description="Caption language burned into "
                                        "the picture (sidecars are still listed).")


def chapters(storyboard, timeline, limit_s: float | None = None) -> list[Chapter]:
    """One chapter per act, from where its first item starts on the master (the first
    chapter at 0, as platforms require), with the act's scenes in order."""
    titles = {a.id: (a.title or a.id.replace("-", " ").title()) for a in storyboard.acts}
    scenes: dict[str, list[str]] = {}
    for a in storyboard.acts:
        for s in a.shots:
            if s.scene not in scenes.setdefault(a.id, []):
                scenes[a.id].append(s.scene)
    starts: dict[str, int] = {}
    acts = {a.id for a in storyboard.acts}
    for it in sorted(timeline.items, key=lambda i: i.record_start):
        act = it.act or (it.id.removeprefix("card-") if it.id.startswith("card-") else None)
        if act in acts and act not in starts:  # the act card, else the act's first shot
            starts[act] = it.record_start
    out = []
    for act, frame in sorted(starts.items(), key=lambda kv: kv[1]):
        t = round(frame / float(timeline.fps), 3)
        if limit_s is not None and t >= limit_s:
            break
        out.append(Chapter(start_s=0.0 if not out else t, title=titles.get(act, act), act=act,
                           scenes=scenes.get(act, [])))
    return out


def build_metadata(project, episode: str, platform: str, timeline, render: dict, *,
                   duration_s: float, captions: dict[str, str],
                   thumbnails: list[str]) -> Metadata:
    series = project.series
    sb = project.storyboard(episode)
    ep_title = sb.title if sb.title and sb.title != series.title else f"Episode {sb.episode}"
    cast: list[str] = []
    for s in sb.shots:
        for c in s.characters:
            cid = c.character
            if cid not in cast:
                cast.append(cid)
    names = [project.characters[c].name if c in project.characters else c for c in cast]
    engines = sorted({s.get("engine") for s in render.get("shots", []) if s.get("engine")})
    acts = [a.synopsis for a in sb.acts if getattr(a, "synopsis", "")]
    desc = " ".join(x for x in [series.logline or "", *acts] if x).strip() or ep_title
    tags = [series.genre, series.title, *names]
    credits = [Credit(role="series", name=series.title)]
    credits += [Credit(role="character", name=n) for n in names]
    credits += [Credit(role="picture engine", name=e) for e in engines]
    return Metadata(platform=platform, title=f"{series.title}: {ep_title}", description=desc,
                    tags=list(dict.fromkeys(t for t in tags if t)),
                    language=series.languages[0], languages=list(series.languages),
                    duration_s=round(duration_s, 3),
                    chapters=chapters(sb, timeline, limit_s=duration_s), credits=credits,
                    captions=captions, thumbnails=thumbnails)
