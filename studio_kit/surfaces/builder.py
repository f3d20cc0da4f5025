"""Project Builder: a new series folder from a script, a manuscript or an idea.

Non-UI logic behind ``notebooks/project_builder.ipynb``:

* **script** - a Fountain screenplay goes through the screenplay importer
  (``studio_kit.screenplay.import_script(..., create=True)``), which writes the characters,
  scenes and storyboard it finds;
* **manuscript** - plain text or Markdown: each chapter (``# heading`` or ``Chapter N``) becomes
  an act with a scene definition, its paragraphs become shots, recurring capitalised names
  become the cast and quoted speech becomes dialogue;
* **idea** - a genre template from ``templates/<genre>.yaml`` (archetypes, sets, an outline),
  or, when ``STUDIO_LLM_BASE_URL`` names an OpenAI-compatible endpoint, an outline written by
  that model from the idea text and shaped by the template.

Every build is written into a temporary folder next to the destination, validated with
``Project.load`` and only then renamed into place: a failed build writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .. import resources
from ..engines import openai_compat
from ..errors import StudioError, ValidationFailed
from ..models import (
    Act,
    ActKind,
    Appearance,
    Atmosphere,
    Budget,
    Camera,
    CameraAngle,
    CastMember,
    Character,
    DialogueLine,
    HairStyle,
    KeyLight,
    Scene,
    Series,
    SetMark,
    Shot,
    Storyboard,
    Tier,
    TimeOfDay,
)
from ..project.scaffold import create_series_folder, new_character, new_scene, require_empty_folder
from ..project.series_folder import Project
from ..secrets import redact
from ..settings import reveal, settings
from ..store.yamlio import save_model, validate_data

TEMPLATES_DIR = resources.templates_dir()
MAX_CAST = 8


def templates_dir() -> Path:
    return settings().templates or TEMPLATES_DIR


# -- genre templates ------------------------------------------------------------------------
class ArchetypeVoice(BaseModel):
    voice: str | None = None
    pitch: int = Field(50, ge=0, le=99)
    rate: int = Field(170, ge=80, le=450)


class Archetype(BaseModel):
    model_config = {"extra": "forbid"}
    role: str
    name: str = Field(min_length=1)
    description: str = ""
    traits: list[str] = Field(default_factory=list)
    hair_style: HairStyle = HairStyle.short
    hair_colour: str = "#2b1d14"
    skin: str = "#c68863"
    colours: list[str] = Field(min_length=1, description="top, trousers, shoes (main first)")
    voice: ArchetypeVoice = Field(default_factory=ArchetypeVoice)


class TemplateScene(BaseModel):
    model_config = {"extra": "forbid"}
    id: str
    name: str
    interior: bool = True
    time_of_day: TimeOfDay = TimeOfDay.day
    key: KeyLight = KeyLight.front_left
    fill_ratio: float = 4.0
    colour_temperature_k: int = 5600
    atmosphere: Atmosphere = Field(default_factory=Atmosphere)
    palette: list[str] = Field(default_factory=lambda: ["#8a7f72", "#4b4036"])
    ambience: list[str] = Field(default_factory=lambda: ["room_tone"])


class BeatLine(BaseModel):
    speaker: int = Field(ge=0)
    text: str = Field(min_length=1)


class Beat(BaseModel):
    model_config = {"extra": "forbid"}
    act: ActKind = ActKind.act
    scene: str
    cast: list[int] = Field(default_factory=list)
    action: str
    angle: CameraAngle = CameraAngle.medium
    line: BeatLine | None = None


class GenreTemplate(BaseModel):
    model_config = {"extra": "forbid"}
    genre: str
    title: str
    logline: str = ""
    tier: Tier = Tier.standard
    budget: Budget = Field(default_factory=Budget)
    characters: list[Archetype] = Field(min_length=1)
    scenes: list[TemplateScene] = Field(min_length=1)
    beats: list[Beat] = Field(default_factory=list)


def list_genres() -> list[str]:
    """Genres that have a template in ``templates/``."""
    return sorted(p.stem for p in templates_dir().glob("*.yaml"))


def load_template(genre: str) -> GenreTemplate:
    path = templates_dir() / f"{genre}.yaml"
    if not path.is_file():
        raise StudioError(f"no genre template {genre!r}", file=path,
                          hint=f"genres: {', '.join(list_genres()) or 'none'}")
    from ..store.yamlio import load_yaml

    data, lines = load_yaml(path)
    return validate_data(GenreTemplate, data, path, lines)


# -- the request ----------------------------------------------------------------------------
class SourceKind(StrEnum):
    idea = "idea"
    script = "script"
    manuscript = "manuscript"


class BuildRequest(BaseModel):
    """What the builder is asked to make (the Project Builder form, validated)."""

    model_config = {"extra": "forbid"}
    title: str = Field(min_length=1, max_length=120)
    genre: str = "drama"
    source: SourceKind = SourceKind.idea
    text: str = Field("", description="The idea, the Fountain script or the manuscript text.")
    cast_size: int = Field(3, ge=1, le=MAX_CAST)
    tier: Tier = Tier.standard
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    use_llm: bool = Field(True, description="Use STUDIO_LLM_BASE_URL for ideas when set.")


def slug(text: str, fallback: str = "item") -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64].strip("_")
    return s or fallback


def _unique(base: str, taken: set[str]) -> str:
    out, n = base, 2
    while out in taken:
        suffix = f"_{n}"
        out = base[: 64 - len(suffix)] + suffix
        n += 1
    taken.add(out)
    return out


# -- building blocks ------------------------------------------------------------------------
def character_from_archetype(cid: str, name: str, arch: Archetype, *,
                             description: str | None = None,
                             traits: list[str] | None = None, language: str = "en") -> Character:
    return new_character(
        cid, name, aliases=[name.split()[0].upper(), name.upper()],
        description=description if description is not None else arch.description,
        appearance=Appearance(skin=arch.skin, hair_colour=arch.hair_colour,
                              hair_style=arch.hair_style),
        clothes=arch.colours, outfit=f"{arch.role} everyday",
        voice=arch.voice.voice, language=language, pitch=arch.voice.pitch,
        rate=arch.voice.rate, traits=traits if traits is not None else arch.traits,
    )


def scene_from_template(ts: TemplateScene, sid: str | None = None) -> Scene:
    return new_scene(
        sid or ts.id, ts.name, interior=ts.interior, palette=ts.palette,
        time_of_day=ts.time_of_day, atmosphere=ts.atmosphere, ambience=ts.ambience,
        key=ts.key, fill_ratio=ts.fill_ratio, colour_temperature_k=ts.colour_temperature_k,
        set_layout=[SetMark(name="left", kind="person", x=0.35, depth=0.55),
                    SetMark(name="right", kind="person", x=0.65, depth=0.55)],
    )


_INTERIOR_WORDS = ("room", "kitchen", "house", "office", "hall", "inside", "bedroom", "shop",
                   "station", "cabin", "church", "library", "bar", "cafe", "tower")


def _series(req: BuildRequest, tpl: GenreTemplate | None, logline: str | None) -> Series:
    return Series(title=req.title, genre=req.genre, logline=logline or None, tier=req.tier,
                  languages=req.languages,
                  budget=tpl.budget if tpl else Budget(total=0.0))


def _board(title: str, acts: list[Act]) -> Storyboard:
    return Storyboard(episode="01", title=title, acts=[a for a in acts if a.shots])


# -- idea -> project ------------------------------------------------------------------------
def _from_template(req: BuildRequest, tpl: GenreTemplate) -> dict[str, Any]:
    lang = req.languages[0]
    archetypes = [tpl.characters[i % len(tpl.characters)] for i in range(req.cast_size)]
    taken: set[str] = set()
    chars = []
    for i, arch in enumerate(archetypes):
        name = arch.name if i < len(tpl.characters) else f"{arch.name} {i + 1}"
        chars.append(character_from_archetype(_unique(slug(name.split()[-1]), taken), name, arch,
                                              language=lang))
    scenes = [scene_from_template(s, slug(s.id)) for s in tpl.scenes]
    scene_ids = {s.id for s in scenes}
    acts: dict[ActKind, Act] = {}
    for n, beat in enumerate(tpl.beats, start=1):
        if slug(beat.scene) not in scene_ids:
            raise StudioError(f"template beat {n} names unknown scene {beat.scene!r}",
                              file=templates_dir() / f"{tpl.genre}.yaml",
                              hint=f"scenes: {', '.join(sorted(scene_ids))}")
        cast = [chars[i] for i in beat.cast if i < len(chars)]
        dialogue = []
        if beat.line and beat.line.speaker < len(chars):
            speaker = chars[beat.line.speaker]
            if speaker not in cast:
                cast.append(speaker)
            dialogue.append(DialogueLine(character=speaker.id, text=beat.line.text))
        marks = ["left", "right"]
        act = acts.setdefault(beat.act, Act(id=beat.act.value.replace("_", "-"),
                                            title=beat.act.value.replace("_", " ").upper(),
                                            kind=beat.act))
        act.shots.append(Shot(
            id=f"s{n:02d}-{slug(beat.scene)}"[:64], scene=slug(beat.scene),
            characters=[CastMember(character=c.id, mark=marks[k] if k < 2 else None)
                        for k, c in enumerate(cast)],
            action=beat.action, dialogue=dialogue,
            camera=Camera(angle=beat.angle, subject=cast[0].id if cast else None),
            duration_s=4.0))
    order = [ActKind.cold_open, ActKind.act, ActKind.hook]
    return {"series": _series(req, tpl, tpl.logline), "characters": chars, "scenes": scenes,
            "storyboard": _board(req.title, [acts[k] for k in order if k in acts])}


class LlmCharacter(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    traits: list[str] = Field(default_factory=list)


class LlmScene(BaseModel):
    name: str = Field(min_length=1)
    interior: bool = True
    time_of_day: TimeOfDay = TimeOfDay.day
    description: str = ""


class LlmBeat(BaseModel):
    scene: int = Field(ge=0)
    action: str = Field(min_length=1)
    cast: list[int] = Field(default_factory=list)
    speaker: int | None = None
    line: str | None = None


class LlmOutline(BaseModel):
    """The JSON an OpenAI-compatible model is asked to return for an idea."""

    title: str | None = None
    logline: str = ""
    characters: list[LlmCharacter] = Field(min_length=1)
    scenes: list[LlmScene] = Field(min_length=1)
    beats: list[LlmBeat] = Field(min_length=1)


def llm_outline(idea: str, tpl: GenreTemplate, cast_size: int, *,
                base_url: str | None = None, timeout_s: float = 120.0,
                max_retries: int = openai_compat.DEFAULT_MAX_RETRIES) -> LlmOutline:
    """Ask an OpenAI-compatible ``/chat/completions`` endpoint for an outline (JSON),
    through the ``openai`` SDK (``max_retries`` on 5xx, 408/429, timeouts)."""
    base_url = (base_url or settings().llm_base_url or "").rstrip("/")
    if not base_url:
        raise StudioError("no LLM endpoint configured",
                          hint="set STUDIO_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
    model = settings().llm_model
    key = reveal(settings().llm_api_key)
    schema = LlmOutline.model_json_schema()
    prompt = (
        f"Write the outline of episode 1 of a {tpl.genre} series from this idea:\n{idea}\n\n"
        f"Use exactly {cast_size} characters and 2 to 4 locations, 4 to 8 beats. "
        f"Character indexes and scene indexes are 0-based positions in your lists. "
        f"Genre conventions, for reference: {tpl.logline}\n"
        f"Answer with one JSON object matching this JSON schema and nothing else:\n"
        f"{json.dumps(schema)}")
    messages = [{"role": "system", "content": "You are a story editor for a TV series."},
                {"role": "user", "content": prompt}]
    try:
        with openai_compat.studio_errors(
                "LLM endpoint",
                unreachable_hint=f"check STUDIO_LLM_BASE_URL ({redact(base_url)})",
                status_hint="check STUDIO_LLM_MODEL and STUDIO_LLM_API_KEY"):
            content = openai_compat.chat_content(
                base_url, model=model, messages=messages, api_key=key, timeout_s=timeout_s,
                max_retries=max_retries, temperature=0.7,
                response_format={"type": "json_object"})
    except openai_compat.MalformedChat as exc:
        raise StudioError(f"the LLM's outline is not usable: {exc}",
                          hint="try again, or build from the genre template alone "
                          "(untick 'use LLM')") from None
    try:
        content = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
        return LlmOutline.model_validate(json.loads(content))
    except (KeyError, IndexError, TypeError, json.JSONDecodeError, ValidationError) as exc:
        raise StudioError(f"the LLM's outline is not usable: {str(exc).splitlines()[0]}",
                          hint="try again, or build from the genre template alone "
                          "(untick 'use LLM')") from None


def _from_outline(req: BuildRequest, tpl: GenreTemplate, out: LlmOutline) -> dict[str, Any]:
    lang = req.languages[0]
    taken: set[str] = set()
    chars = []
    for i, lc in enumerate(out.characters[: req.cast_size]):
        arch = tpl.characters[i % len(tpl.characters)]
        chars.append(character_from_archetype(
            _unique(slug(lc.name.split()[-1], f"char{i}"), taken), lc.name, arch,
            description=lc.description, traits=lc.traits or list(arch.traits), language=lang))
    staken: set[str] = set()
    scenes = []
    for i, ls in enumerate(out.scenes):
        ts = tpl.scenes[i % len(tpl.scenes)].model_copy(
            update={"name": ls.name, "interior": ls.interior, "time_of_day": ls.time_of_day})
        sc = scene_from_template(ts, _unique(slug(ls.name, f"scene{i}"), staken))
        sc.description = ls.description
        scenes.append(sc)
    shots = []
    for n, b in enumerate(out.beats, start=1):
        scene = scenes[min(b.scene, len(scenes) - 1)]
        cast = [chars[i] for i in b.cast if 0 <= i < len(chars)]
        dialogue = []
        if b.line and b.speaker is not None and 0 <= b.speaker < len(chars):
            if chars[b.speaker] not in cast:
                cast.append(chars[b.speaker])
            dialogue.append(DialogueLine(character=chars[b.speaker].id, text=b.line))
        shots.append(Shot(id=f"s{n:02d}-{scene.id}"[:64], scene=scene.id, action=b.action,
                          characters=[CastMember(character=c.id) for c in cast],
                          dialogue=dialogue,
                          camera=Camera(subject=cast[0].id if cast else None)))
    return {"series": _series(req, tpl, out.logline), "characters": chars, "scenes": scenes,
            "storyboard": _board(out.title or req.title,
                                 [Act(id="act-1", title="ACT ONE", shots=shots)])}


# -- manuscript -> project ------------------------------------------------------------------
_CHAPTER_RE = re.compile(r"^(?:#{1,3}\s+(?P<md>.+?)\s*#*|(?P<ch>(?:chapter|part)\s+\S.*))\s*$",
                         re.IGNORECASE | re.MULTILINE)
_QUOTE_RE = re.compile(r"[\"“]([^\"”]{2,300})[\"”]")
_NAME_RE = re.compile(r"\b([A-Z][a-z]{2,}(?:\s[A-Z][a-z]{2,})?)\b")
_STOP = {"The", "And", "But", "Then", "When", "She", "Her", "His", "They", "There", "This",
         "That", "What", "Where", "Who", "Why", "How", "After", "Before", "Chapter", "Part",
         "Its", "It's", "For", "With", "From", "Into", "Once", "Now", "Yes", "Not", "All",
         "One", "Two", "Three", "Our", "You", "Your", "We", "He", "Mr", "Mrs", "Ms", "Dr",
         "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
         "Outside", "Inside", "Later", "Still", "Even", "Only", "Just", "Some", "Every", "Each",
         "Nothing", "Something", "Someone", "Everyone", "Here", "While", "Though", "Because"}


def split_chapters(text: str) -> list[tuple[str, str]]:
    """(title, body) per chapter; a text without headings is one chapter."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    heads = list(_CHAPTER_RE.finditer(text))
    if not heads:
        body = text.strip()
        return [("Chapter 1", body)] if body else []
    out = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        title = (m.group("md") or m.group("ch")).strip()
        body = text[m.end():end].strip()
        if body:
            out.append((title, body))
    return out


def find_names(text: str, limit: int) -> list[str]:
    """Recurring capitalised names that are not only sentence openers (a cheap NER:
    no NER model is installed here; good enough to seed a cast a person then edits)."""
    counts: Counter[str] = Counter()
    mid: Counter[str] = Counter()
    for m in _NAME_RE.finditer(text):
        name = m.group(1)
        first = name.split()[0]
        if first in _STOP:
            continue
        counts[name] += 1
        before = text[max(0, m.start() - 2):m.start()]
        if not re.search(r"[.!?\"“]\s*$|^\s*$|\n", before):
            mid[name] += 1
    names = [n for n, c in counts.most_common() if c >= 2 and mid[n] >= 1]
    out: list[str] = []
    for n in names:  # drop "Mara" when "Mara Quinn" is already in, and the reverse
        if any(n in o.split() or o in n.split() for o in out):
            continue
        out.append(n)
        if len(out) >= limit:
            break
    return out


def _speaker(para: str, m: re.Match[str], present: list[Character]) -> Character:
    """Who says a quote: the name just after it ("...," said Theo), else just before it."""
    after, before = para[m.end():m.end() + 40], para[max(0, m.start() - 40):m.start()]
    for window, pick in ((after, min), (before, max)):
        hits = [(mm.start(), c) for c in present
                for mm in re.finditer(rf"\b{re.escape(c.name.split()[0])}\b", window)]
        if hits:
            return pick(hits, key=lambda h: h[0])[1]
    return present[0]


def _from_manuscript(req: BuildRequest, tpl: GenreTemplate) -> dict[str, Any]:
    chapters = split_chapters(req.text)
    if not chapters:
        raise StudioError("the manuscript is empty", field="text",
                          hint="paste or upload plain text or Markdown with '# Chapter' headings")
    lang = req.languages[0]
    names = find_names(req.text, req.cast_size)
    taken: set[str] = set()
    chars = []
    for i, name in enumerate(names):
        arch = tpl.characters[i % len(tpl.characters)]
        chars.append(character_from_archetype(_unique(slug(name.split()[0]), taken), name, arch,
                                              description="", traits=[], language=lang))
    staken: set[str] = set()
    scenes, acts = [], []
    for ci, (title, body) in enumerate(chapters):
        ts = tpl.scenes[ci % len(tpl.scenes)]
        interior = any(w in body.lower()[:2000] for w in _INTERIOR_WORDS)
        sid = _unique(slug(title, f"chapter_{ci + 1}"), staken)
        sc = scene_from_template(ts.model_copy(update={"name": title.upper(),
                                                       "interior": interior}), sid)
        sc.description = body.split("\n\n")[0][:300]
        scenes.append(sc)
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()][:8]
        shots = []
        for pi, para in enumerate(paragraphs, start=1):
            present = [c for c in chars if re.search(rf"\b{re.escape(c.name.split()[0])}\b", para)]
            dialogue = []
            if present:
                dialogue = [DialogueLine(character=_speaker(para, m, present).id,
                                         text=m.group(1).strip())
                            for m in list(_QUOTE_RE.finditer(para))[:3] if m.group(1).strip()]
            action = _QUOTE_RE.sub("", para).strip() or para
            words = len(para.split())
            shots.append(Shot(
                id=f"c{ci + 1:02d}-s{pi:02d}", scene=sid, action=" ".join(action.split())[:400],
                characters=[CastMember(character=c.id) for c in present[:4]],
                dialogue=dialogue, camera=Camera(subject=present[0].id if present else None),
                duration_s=float(min(12.0, max(3.0, words / 10)))))
        acts.append(Act(id=f"chapter-{ci + 1}", title=title[:120], shots=shots,
                        synopsis=sc.description))
    return {"series": _series(req, tpl, None), "characters": chars, "scenes": scenes,
            "storyboard": _board(req.title, acts)}


# -- writing --------------------------------------------------------------------------------
def _write(root: Path, parts: dict[str, Any]) -> None:
    sb: Storyboard | None = parts.get("storyboard")
    create_series_folder(root, parts["series"], characters=parts["characters"],
                         scenes=parts["scenes"], storyboards=[sb] if sb is not None else [])


def _import_fountain(root: Path, req: BuildRequest) -> None:
    from ..screenplay import import_script

    if not req.text.strip():
        raise StudioError("the script is empty", field="text", hint="upload a .fountain file")
    script = root / "upload.fountain"  # the importer wants an empty folder but for the script
    script.write_text(req.text, encoding="utf-8")
    import_script(root, script, "01", create=True, genre=req.genre,
                  source_name="the uploaded script")
    script.unlink(missing_ok=True)
    # the builder's choices override what the importer inferred (title page, defaults)
    from ..store.yamlio import load_yaml

    data, lines = load_yaml(root / "series.yaml")
    series = validate_data(Series, data, root / "series.yaml", lines)
    tpl = load_template(req.genre) if req.genre in list_genres() else None
    series = series.model_copy(update={
        "title": req.title, "tier": req.tier, "genre": req.genre,
        "budget": tpl.budget if tpl else series.budget,
        "languages": list(dict.fromkeys([*req.languages, *series.languages]))})
    save_model(root / "series.yaml", Series.model_validate(series.model_dump()))


def plan(req: BuildRequest) -> dict[str, Any] | None:
    """The models a build would write (None for a script: the importer decides)."""
    tpl = load_template(req.genre) if req.genre in list_genres() else load_template("drama")
    if req.source == SourceKind.idea:
        if req.use_llm and settings().llm_base_url and req.text.strip():
            return _from_outline(req, tpl, llm_outline(req.text, tpl, req.cast_size))
        return _from_template(req, tpl)
    if req.source == SourceKind.manuscript:
        return _from_manuscript(req, tpl)
    return None


def build_project(dest: str | Path, req: BuildRequest | dict[str, Any]) -> Project:
    """Build a series folder at ``dest`` (which must not exist or be empty) and return it
    loaded. All-or-nothing: on any error nothing is left at ``dest``."""
    if not isinstance(req, BuildRequest):
        try:
            req = BuildRequest.model_validate(req)
        except ValidationError as exc:
            raise _as_studio_error(exc, "build request") from None
    dest = Path(dest).resolve()
    require_empty_folder(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".building", dir=dest.parent))
    try:
        if req.source == SourceKind.script:
            _import_fountain(tmp, req)
        else:
            parts = plan(req)
            assert parts is not None
            _write(tmp, parts)
        Project.load(tmp)  # the same validation as files edited by hand
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Project.load(dest)


def _as_studio_error(exc: ValidationError, what: str) -> ValidationFailed:
    from ..errors import Problem

    problems = [Problem(None, e["msg"], None, ".".join(map(str, e["loc"])) or None, None)
                for e in exc.errors()]
    return ValidationFailed(f"invalid {what}", problems=problems)


def template_summary(genre: str) -> str:
    """One paragraph describing a template (for the builder's genre picker)."""
    tpl = load_template(genre)
    cast = ", ".join(f"{c.name} ({c.role})" for c in tpl.characters)
    sets = ", ".join(s.name for s in tpl.scenes)
    return f"{tpl.logline}\nCast: {cast}.\nSets: {sets}.\nDefault tier: {tpl.tier.value}."
