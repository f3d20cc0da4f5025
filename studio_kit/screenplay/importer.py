"""``import_script``: a Fountain file -> scenes, characters and an episode storyboard on disk.

Nothing is written until everything is parsed, broken down, merged with the storyboard
already on disk and checked (schema and cross-references); then each file is written
atomically, the storyboard last.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import StudioError, ValidationFailed
from ..models import (
    Appearance,
    Character,
    Garment,
    HairStyle,
    KeyLight,
    MarkKind,
    Outfit,
    Scene,
    Series,
    SetMark,
    Storyboard,
    TimeOfDay,
    VoiceGender,
    Wardrobe,
)
from ..project.scaffold import create_series_folder, new_character, new_scene, require_empty_folder
from ..store.hashing import stable_hash
from ..store.yamlio import atomic_copy, atomic_open, atomic_write_text, save_model
from .breakdown import BreakdownInput, BreakdownResult, breakdown_full
from .describe import DETECT_LANGUAGES, Looks, introduction, looks_from, props_from
from .parse import (
    ActionPara,
    Heading,
    Script,
    fold,
    location_key,
    parse_fountain,
    read_script_file,
    slugify,
)
from .reimport import merge_storyboards


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter (several times faster than PyYAML's on a feature-length board).

    The implicit-tag resolver (regexes run on every scalar to decide quoting) is memoised:
    a storyboard repeats the same keys and enum values thousands of times.
    """

    _resolved: dict = {}

    def resolve(self, kind, value, implicit):  # same contract as PyYAML's
        if not isinstance(value, str) or len(value) > 40:  # long text: rarely repeated
            return super().resolve(kind, value, implicit)
        key = (kind, value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            if len(self._resolved) > 20000:  # bounded: a long-lived server imports many
                self._resolved.clear()
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag


class _Flow(dict):
    """A mapping written on one line: ``field_hashes: {scene: 1a2b..., action: ...}``."""


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping(
    "tag:yaml.org,2002:map", data, flow_style=True))


@dataclass
class ImportReport:
    episode: str
    script: Path
    storyboard_path: Path
    headings: int = 0
    scenes_created: list[str] = field(default_factory=list)
    scenes_matched: list[str] = field(default_factory=list)
    characters_created: list[str] = field(default_factory=list)
    characters_matched: list[str] = field(default_factory=list)
    shots_created: list[str] = field(default_factory=list)
    shots_updated: list[str] = field(default_factory=list)
    shots_unchanged: list[str] = field(default_factory=list)
    shots_removed: list[str] = field(default_factory=list)
    shots_manual_kept: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    heading_scene: list[str] = field(default_factory=list)  # scene id per heading
    cue_characters: dict[str, list[str]] = field(default_factory=dict)  # cue name -> ids
    total_shots: int = 0
    duration_s: float = 0.0
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "headings": self.headings,
            "scenes_created": len(self.scenes_created),
            "scenes_matched": len(self.scenes_matched),
            "characters_created": len(self.characters_created),
            "characters_matched": len(self.characters_matched),
            "shots_created": len(self.shots_created),
            "shots_updated": len(self.shots_updated),
            "shots_unchanged": len(self.shots_unchanged),
            "shots_removed": len(self.shots_removed),
            "conflicts": len(self.conflicts),
        }

    def summary(self) -> str:
        c = self.counts()
        lines = [
            f"episode {self.episode}: {self.total_shots} shots, {self.duration_s / 60:.1f} min "
            f"({self.headings} scene headings) in {self.seconds:.2f} s",
            f"scenes: {c['scenes_created']} created, {c['scenes_matched']} matched",
            f"characters: {c['characters_created']} created, "
            f"{c['characters_matched']} matched",
            f"shots: {c['shots_created']} created, {c['shots_updated']} updated, "
            f"{c['shots_unchanged']} unchanged, {c['shots_removed']} removed",
        ]
        if self.shots_removed:
            lines.append("removed: " + ", ".join(self.shots_removed[:20])
                         + (" ..." if len(self.shots_removed) > 20 else ""))
        for sid, fld in self.conflicts[:20]:
            lines.append(f"conflict: {sid}.{fld} was edited by hand and changed in the script;"
                         " the script's version was taken")
        lines.extend(f"warning: {w}" for w in self.warnings[:20])
        return "\n".join(lines)


# -- scenes ----------------------------------------------------------------------------------
_COLOUR_TEMP = {TimeOfDay.dawn: 3500, TimeOfDay.morning: 5000, TimeOfDay.day: 5600,
                TimeOfDay.afternoon: 5200, TimeOfDay.dusk: 3400, TimeOfDay.evening: 3200,
                TimeOfDay.night: 4100}
_AMBIENCE = [(r"\b(SEA|BEACH|HARBOU?R|OCEAN|PIER|DOCK|SHORE|LIGHTHOUSE)\b", "sea"),
             (r"\b(RIVER|LAKE|SWAMP|CREEK|POND)\b", "water"),
             (r"\b(STREET|ROAD|HIGHWAY|CITY|DOWNTOWN|PARKING|BLVD|AVENUE)\b", "traffic"),
             (r"\b(FOREST|WOODS|FIELD|FARM|GARDEN|PARK|CLEARING|CAMPFIRE)\b", "forest"),
             (r"\b(CAFE|BAR|RESTAURANT|CIRCUS|BIG TOP|STADIUM|FAIR|CROWD|SCHOOL|HALL)\b",
              "crowd"),
             (r"\b(CAR|TRUCK|CHEVY|CHEVROLET|747|AIRPLANE|PLANE|TRAIN|BUS)\b", "engine")]


def scene_defaults(h: Heading, scene_id: str, source: str) -> Scene:
    """A new scene from a heading: interior/exterior, time of day, light and ambience."""
    tod = h.time_of_day or TimeOfDay.day
    night = tod in (TimeOfDay.night, TimeOfDay.evening)
    temp = _COLOUR_TEMP[tod] if not h.interior else (3200 if night else 4300)
    if h.interior:
        palette = ["#8a7f72", "#4b4036"]
    elif night:
        palette = ["#0f1a2b", "#1e1e1e"]
    elif tod in (TimeOfDay.dawn, TimeOfDay.dusk):
        palette = ["#d98c5f", "#3f3a35"]
    else:
        palette = ["#87a9c9", "#6b7b4b"]
    ambience = ["room_tone"] if h.interior else []
    for rx, name in _AMBIENCE:
        if re.search(rx, h.location) and name not in ambience:
            ambience.append(name)
    if not ambience:
        ambience = ["wind"]
    return new_scene(
        scene_id, h.location, interior=h.interior,
        description=f"Imported from '{h.text}' ({source}:{h.line}); describe the set here.",
        palette=palette, key=KeyLight.back_right if night else KeyLight.front_left,
        fill_ratio=8.0 if night else 4.0, colour_temperature_k=temp, time_of_day=tod,
        ambience=ambience,
    )


def _unique_id(base: str, used: set[str]) -> str:
    base = base[:60].strip("_-") or "x"
    if not base[0].isalnum():
        base = "x" + base
    cand, n = base, 2
    while cand in used:
        cand, n = f"{base}_{n}", n + 1
    used.add(cand)
    return cand


def resolve_scenes(script: Script, existing: dict[str, Scene]
                   ) -> tuple[list[str], dict[str, Scene], list[str]]:
    """Scene id per heading; new scenes to create; ids of existing scenes used."""
    by_key: dict[tuple[str, bool | None], str] = {}
    for sc in existing.values():
        for k in {location_key(sc.name), location_key(sc.id.replace("_", " "))}:
            by_key.setdefault((k, sc.interior), sc.id)
            by_key.setdefault((k, None), sc.id)
    used = set(existing)
    created: dict[str, Scene] = {}
    matched: dict[str, None] = {}
    ids: list[str] = []
    current: str | None = None
    for h in script.headings:
        if h.secondary and current is not None:
            ids.append(current)
            continue
        key = h.key or "UNKNOWN"
        sid = by_key.get((key, h.interior))
        if sid is None and by_key.get((key, None)) in existing:
            sid = by_key[(key, None)]  # the project names this place: use it either side
        if sid is None:
            base = slugify(h.location)
            if base in used:
                base = f"{base}_{'int' if h.interior else 'ext'}"
            sid = _unique_id(base, used)
            created[sid] = scene_defaults(h, sid, script.source)
            by_key[(key, h.interior)] = sid
        elif sid in existing:
            matched.setdefault(sid, None)
        ids.append(sid)
        current = sid
    return ids, created, list(matched)


def preamble_scene(script: Script, scenes: dict[str, Scene]) -> Scene | None:
    """The scene for action or dialogue before the first heading (None if there is none)."""
    from .breakdown import FADE_IN_RE
    from .parse import Speech

    el = script.elements[0] if script.elements else None
    if script.headings or el is None:
        for el in script.elements:
            if isinstance(el, Heading):
                return None
            if isinstance(el, Speech) or (isinstance(el, ActionPara)
                                          and not FADE_IN_RE.match(el.text)):
                break
        else:
            return None
    # else: a script without headings (dialogue only, sections only...) is one scene
    for sc in scenes.values():
        if location_key(sc.name) == "OPENING":
            return sc
    h = Heading(line=el.line, text="OPENING", location="OPENING", interior=False,
                time_of_day=None)
    sid = _unique_id("opening", set(scenes))
    return scene_defaults(h, sid, script.source)


# -- characters ------------------------------------------------------------------------------
_SKIN = ["#f1c27d", "#e0ac69", "#c68642", "#8d5524", "#ffdbac", "#d9a47e", "#a1665e"]
_HAIR = ["#2b1d14", "#4a3020", "#8c2f1b", "#d8b36a", "#1a1a1a", "#9a9a9a", "#6b4423"]
_EYES = ["#4a3420", "#3d6b4f", "#2f5d8a", "#5a4632", "#2b2b2b"]
_CLOTH = ["#1f3a5f", "#7a2e2e", "#3b3b35", "#5b6b3a", "#6d4c7d", "#c2a36b", "#2c2c54",
          "#8a8a8a"]
_VOICES_M = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
_VOICES_F = ["f1", "f2", "f3", "f4", "f5"]
#: Placeholder hair at least this far (RGB distance) from the skin: a hair colour close to
#: the skin reads as a bald head.
HAIR_SKIN_MIN_DISTANCE = 90.0


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def colour_distance(a: str, b: str) -> float:
    return sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b), strict=True)) ** 0.5


def hair_apart_from(skin: str, start: int) -> str:
    """The first placeholder hair colour from ``start`` that does not read as skin."""
    for i in range(len(_HAIR)):
        cand = _HAIR[(start + i) % len(_HAIR)]
        if colour_distance(cand, skin) >= HAIR_SKIN_MIN_DISTANCE:
            return cand
    return "#1a1a1a"


def placeholder_character(char_id: str, name: str, cue: str, language: str, line: int,
                          source: str) -> Character:
    """A valid character with deterministic placeholder looks and voice (edit them)."""
    h = int(stable_hash("character", name)[:12], 16)

    def pick(seq: list, shift: int):
        return seq[(h >> shift) % len(seq)]

    voices = _VOICES_M + _VOICES_F
    skin = pick(_SKIN, 0)
    styles = [s for s in HairStyle if s is not HairStyle.bald]  # bald only when written
    return new_character(
        char_id, " ".join(w.capitalize() for w in name.split()) or cue, aliases=[cue],
        description=f"Placeholder from the script ({source}:{line}): edit looks, wardrobe "
        "and voice.",
        appearance=Appearance(skin=skin, hair_colour=hair_apart_from(skin, (h >> 4) % len(_HAIR)),
                              hair_style=pick(styles, 8), eye_colour=pick(_EYES, 12),
                              height_cm=155 + (h >> 16) % 36),
        clothes=[pick(_CLOTH, 20), pick(_CLOTH, 24), "#2b2b2b"], outfit="Placeholder outfit",
        voice=pick(voices, 28), language=language, pitch=35 + (h >> 32) % 31, rate=165,
    )


def resolve_characters(script: Script, existing: dict[str, Character], default_lang: str
                       ) -> tuple[dict[str, list[str]], dict[str, Character], list[str]]:
    """Character ids per merged cue name; new characters; ids of existing ones used."""
    index: dict[str, str] = {}
    firsts: Counter[str] = Counter()
    for ch in existing.values():
        for form in [*ch.aliases, ch.name, ch.id.replace("_", " ")]:
            index.setdefault(fold(form), ch.id)
        firsts[fold(ch.name).split(" ")[0]] += 1
    for ch in existing.values():
        first = fold(ch.name).split(" ")[0]
        if firsts[first] == 1:
            index.setdefault(first, ch.id)
    used = set(existing)
    out: dict[str, list[str]] = {}
    created: dict[str, Character] = {}
    matched: dict[str, None] = {}
    first_line: dict[str, int] = {}
    langs: dict[str, Counter[str]] = {}
    for sp in script.speeches:
        first_line.setdefault(sp.name, sp.line)
        c = langs.setdefault(sp.name, Counter())
        for p in sp.parts:
            c[p.language or script.language or default_lang] += len(p.text.split()) or 1
    names = script.character_names
    simple = set(names)
    for name in sorted(names, key=lambda n: (bool(re.search(r" (AND|&) ", n)), 0)):
        key = fold(name)
        if key in index:
            out[name] = [index[key]]
            if index[key] in existing:
                matched.setdefault(index[key], None)
            continue
        parts = [p.strip() for p in re.split(r"\s+(?:AND|&)\s+", name) if p.strip()]
        if len(parts) > 1 and all(fold(p) in index or p in simple for p in parts):
            ids = []
            for p in parts:
                if fold(p) not in index:
                    break
                ids.append(index[fold(p)])
            if len(ids) == len(parts):
                out[name] = ids
                continue
        cid = _unique_id(slugify(name), used)
        lang_counts = langs.get(name)
        lang = lang_counts.most_common(1)[0][0] if lang_counts else default_lang
        created[cid] = placeholder_character(cid, name, name, lang, first_line.get(name, 0),
                                             script.source)
        index[key] = cid
        out[name] = [cid]
    return out, created, list(matched)


def apply_looks(ch: Character, looks: Looks, intro: str) -> Character:
    """A NEW placeholder character dressed and voiced as its introduction says."""
    h = int(stable_hash("character", ch.name)[:12], 16)
    app = ch.appearance
    if looks.hair:
        app = app.model_copy(update={"hair_colour": looks.hair})
    if looks.bald:
        app = app.model_copy(update={"hair_style": HairStyle.bald})
    wardrobe = ch.wardrobe
    if looks.garments:
        placeholder = ch.wardrobe.outfits[ch.wardrobe.default].garments
        said = [Garment(name=n, kind=k, colours=c) for n, k, c in looks.garments]
        kinds = {g.kind for g in said}
        garments = said + [g for g in placeholder if g.kind not in kinds]
        wardrobe = Wardrobe(default="default", outfits={"default": Outfit(
            description="From the script: " + ", ".join(n for n, _, _ in looks.garments),
            garments=garments)})
    voice = ch.voice
    if looks.gender is not None or looks.age is not None:
        upd: dict[str, object] = {"gender": looks.gender, "age": looks.age}
        if looks.gender is VoiceGender.female:
            upd["voice"] = _VOICES_F[h % len(_VOICES_F)]
        elif looks.gender is VoiceGender.male:
            upd["voice"] = _VOICES_M[h % len(_VOICES_M)]
        voice = voice.model_copy(update=upd)
    desc = ch.description
    if intro.strip():
        desc = f"{desc} From the script: {intro.strip()[:300]}"
    return ch.model_copy(update={"appearance": app, "wardrobe": wardrobe, "voice": voice,
                                 "description": desc})


def describe_new_characters(script: Script, new_chars: dict[str, Character],
                            cue_ids: dict[str, list[str]]) -> dict[str, Character]:
    """New characters with the looks and voice their introduction in the action gives."""
    if not new_chars:
        return new_chars
    paras = [el.text for el in script.elements if isinstance(el, ActionPara)]
    names = [n for n, ids in cue_ids.items() if len(ids) == 1]
    out = dict(new_chars)
    for name in names:
        cid = cue_ids[name][0]
        if cid not in out:
            continue
        intro = introduction(paras, name, names)
        looks = looks_from(intro, name) if intro else Looks()
        if not looks.empty:
            out[cid] = apply_looks(out[cid], looks, intro)
    return out


_BIG_PROPS = {"lighthouse", "house", "cottage", "tree", "boat", "car", "truck", "cliff",
              "train", "bus", "plane", "helicopter", "shed", "tent", "statue", "mast"}


def dress_new_scenes(new_scenes: dict[str, Scene], res: BreakdownResult) -> dict[str, Scene]:
    """New scenes get the atmosphere and props of their heading and first description."""
    out = dict(new_scenes)
    for sid, sc in new_scenes.items():
        upd: dict[str, object] = {}
        atm = res.scene_atmosphere.get(sid)
        if atm is not None:
            upd["atmosphere"] = atm
        desc = res.scene_description.get(sid)
        if desc:
            props = props_from(desc)
            n = len(props)
            upd["set_layout"] = [
                SetMark(name=slugify(p), kind=MarkKind.prop, prop=p,
                        x=round((i + 1) / (n + 1), 3), depth=0.75 if p in _BIG_PROPS else 0.5,
                        size=2.5 if p in _BIG_PROPS else 1.0)
                for i, p in enumerate(props)]
            upd["description"] = f"{sc.description} {desc[:300]}"
        if upd:
            out[sid] = sc.model_copy(update=upd)
    return out


# -- the import ------------------------------------------------------------------------------
def normalise_episode(episode: str) -> str:
    """``"2"`` -> ``"02"``; episodes are numbered from 1, with two or three ASCII digits."""
    ep = str(episode).strip()
    if re.fullmatch(r"[0-9]+", ep):  # ASCII only: "²".isdigit() is True
        ep = ep.zfill(2)
    if not re.fullmatch(r"[0-9]{2,3}", ep):
        raise StudioError(f"episode {episode!r} is not an episode number", field="episode",
                          hint="use a number such as 01 or 12")
    if int(ep) < 1:
        raise StudioError(f"episode {episode!r} is not an episode number: episodes are "
                          "numbered from 1", field="episode",
                          hint="use a number of at least 1, e.g. 01")
    return ep


def _write_many(files: dict[Path, str]) -> None:
    """Write many new files atomically (temp file + rename each) with ONE sync at the end.

    ``atomic_write_text`` fsyncs every file: a feature's 190 new scene and character files
    took 1.5 s of fsyncs on a busy disk, against 0.1 s for one ``os.sync()``. Readers still
    never see half a file (rename); the storyboard that refers to these files is written
    after the sync, so a crash cannot leave it pointing at files that were lost.
    """
    if not files:
        return
    if not hasattr(os, "sync"):  # not POSIX: per-file fsync
        for path, text in files.items():
            atomic_write_text(path, text)
        return
    for path, text in files.items():
        with atomic_open(path, sync=False) as fh:
            fh.write(text.encode("utf-8"))
    os.sync()


def _dump_fast(model) -> str:
    """YAML via libyaml's emitter; fields at their default are left out (shorter files, ~40%
    fewer nodes for the Python representer, which is the slow part of writing a feature)."""
    data = model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    if "schema_version" in type(model).model_fields:
        data = {"schema_version": model.schema_version, **data}
    for act in data.get("acts", []) if isinstance(model, Storyboard) else []:
        for shot in act.get("shots", []):
            src = shot.get("source")
            if src and "field_hashes" in src:
                src["field_hashes"] = _Flow(src["field_hashes"])
    return yaml.serialize(_to_node(data), Dumper=_Dumper, allow_unicode=True, width=100)


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _to_node(value: object) -> yaml.Node:
    """JSON-like data -> YAML nodes, as SafeRepresenter makes them but without its per-object
    alias bookkeeping (which is most of the cost of dumping 1,600 shots)."""
    if isinstance(value, dict):
        return yaml.MappingNode(_MAP, [(_to_node(k), _to_node(v)) for k, v in value.items()],
                                flow_style=True if isinstance(value, _Flow) else None)
    if isinstance(value, list):
        return yaml.SequenceNode(_SEQ, [_to_node(v) for v in value], flow_style=None)
    if isinstance(value, str):
        return yaml.ScalarNode("tag:yaml.org,2002:str", value)
    if isinstance(value, bool):
        return yaml.ScalarNode("tag:yaml.org,2002:bool", "true" if value else "false")
    if isinstance(value, int):
        return yaml.ScalarNode("tag:yaml.org,2002:int", str(value))
    if value is None:
        return yaml.ScalarNode("tag:yaml.org,2002:null", "null")
    if isinstance(value, float):
        return yaml.SafeDumper(None).represent_float(value)
    raise TypeError(f"cannot write {type(value).__name__} to YAML")


def import_script(project_root: Path, script_path: Path, episode: str, *, create: bool = False,
                  genre: str | None = None, source_name: str | None = None) -> ImportReport:
    """Import a Fountain screenplay as episode ``episode`` of the series at ``project_root``.

    ``create=True`` makes a new series folder (title from the title page). Existing scenes
    and characters are matched by name/alias; new ones are created with defaults. Re-import
    keeps shot ids and manual edits of unchanged shots (see ``reimport``).
    ``source_name`` is how messages and placeholder descriptions name the script (default:
    its path; the Project Builder passes a name, its upload lives in a temporary folder).
    """
    t0 = time.perf_counter()
    from ..project.series_folder import SERIES_FILE, Episode, Project

    root = Path(project_root)
    script_path = Path(script_path)
    ep = normalise_episode(episode)
    text = read_script_file(script_path)
    script = parse_fountain(text, source=source_name or str(script_path))

    if create:
        if (root / SERIES_FILE).exists():
            raise StudioError("a series already exists here", file=root / SERIES_FILE,
                              hint="drop --new to import into it")
        require_empty_folder(root, ignore={script_path.name})
        languages = [script.language or "en"]
        languages += [x for x in script.languages if x not in languages]
        series = Series(title=script.title or root.name or "Untitled",
                        genre=genre or "drama", languages=languages)
        characters: dict[str, Character] = {}
        scenes: dict[str, Scene] = {}
        old_sb = None
    else:
        if not (root / SERIES_FILE).is_file():
            raise StudioError(f"no {SERIES_FILE} here; this is not a series folder", file=root,
                              hint="add --new to create the series from the script, or pass "
                              "the series folder")
        project = Project.load(root)
        series = project.series
        if genre:
            series = series.model_copy(update={"genre": genre})
        characters, scenes = dict(project.characters), dict(project.scenes)
        loaded = project.episodes.get(ep)
        old_sb = loaded.storyboard if loaded is not None else None

    default_lang = script.language or series.primary_language
    heading_scene, new_scenes, matched_scenes = resolve_scenes(script, scenes)
    preamble = preamble_scene(script, {**scenes, **new_scenes})
    if preamble is not None and preamble.id not in scenes:
        new_scenes[preamble.id] = preamble
    cue_ids, new_chars, matched_chars = resolve_characters(script, characters, default_lang)
    all_chars = {**characters, **new_chars}
    inp = BreakdownInput(
        episode=ep, scene_ids=heading_scene, character_ids=cue_ids,
        voice_language={cid: ch.voice.language for cid, ch in all_chars.items()},
        title=script.title or "",
        preamble_scene=preamble.id if preamble is not None else None,
    )
    inp.languages = tuple(dict.fromkeys([*DETECT_LANGUAGES, *series.languages,
                                         *script.languages]))
    if script.title and series.title and fold(script.title) == fold(series.title):
        inp.title = ""  # the title card names the series once, not "Big Fish / Big Fish"
    res = breakdown_full(script, inp)
    fresh, warnings = res.storyboard, res.warnings
    new_chars = describe_new_characters(script, new_chars, cue_ids)
    all_chars = {**characters, **new_chars}
    new_scenes = dress_new_scenes(new_scenes, res)
    if not fresh.shots:
        raise StudioError("the script gives no shots", file=script_path,
                          hint="put action or dialogue under the scene headings")
    report = ImportReport(episode=ep, script=script_path,
                          storyboard_path=root / "episodes" / ep / "storyboard.yaml",
                          headings=len(script.headings), warnings=warnings,
                          heading_scene=heading_scene, cue_characters=cue_ids)
    if old_sb is not None:
        merged = merge_storyboards(old_sb, fresh)
        sb = merged.storyboard
        report.shots_created = merged.created
        report.shots_updated = merged.updated
        report.shots_unchanged = merged.unchanged
        report.shots_removed = merged.removed
        report.shots_manual_kept = merged.kept_manual
        report.conflicts = merged.conflicts
    else:
        sb = fresh
        report.shots_created = [s.id for s in sb.shots]
    report.scenes_created = list(new_scenes)
    report.scenes_matched = matched_scenes
    report.characters_created = list(new_chars)
    report.characters_matched = matched_chars
    missing_langs = [x for x in script.languages if x not in series.languages]
    if missing_langs and not create:
        report.warnings.append(f"languages {missing_langs} are used in the script but not "
                               "listed in series.yaml languages")

    # cross-reference check in memory before writing anything
    check = Project(root=root, series=series, characters=all_chars,
                    scenes={**scenes, **new_scenes},
                    episodes={ep: Episode(ep, root / "episodes" / ep, sb)})
    problems = [p for p in check.reference_problems() if p.file and "storyboard" in p.file]
    if problems:  # a bug in the importer, reported the studio way rather than written
        raise ValidationFailed("the imported storyboard does not validate", problems=problems)

    # write: new scenes and characters, series, script copy, storyboard last
    try:
        if create:
            create_series_folder(root, series)
        elif genre:
            save_model(root / SERIES_FILE, series)
        _write_many({**{root / "scenes" / f"{sc.id}.yaml": _dump_fast(sc)
                        for sc in new_scenes.values()},
                     **{root / "characters" / f"{ch.id}.yaml": _dump_fast(ch)
                        for ch in new_chars.values()}})
        target_script = root / "episodes" / ep / "script.fountain"
        if not target_script.exists() or target_script.resolve() != script_path.resolve():
            atomic_copy(script_path, target_script)
        atomic_write_text(report.storyboard_path, _dump_fast(sb))
    except OSError as exc:
        raise StudioError(f"cannot write the imported files: {exc.strerror or exc}",
                          file=exc.filename or root,
                          hint="check that the series folder is writable and the disk has "
                          "space; files already written are complete (atomic writes)") from None
    report.total_shots = len(sb.shots)
    report.duration_s = sb.duration_s
    report.seconds = time.perf_counter() - t0
    return report
