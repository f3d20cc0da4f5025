"""Script -> first-pass Storyboard: the shot breakdown a person then edits.

Rules (docs/fountain.md):
- every master scene heading opens with an establishing wide (extreme wide + slow pan
  outside, wide and static inside); the action paragraph right after the heading is its
  action;
- a forced heading without INT./EXT. (``.ON THE TV``) is a new shot in the current scene;
- every later action paragraph is a shot framed on the characters it names;
- dialogue coverage alternates singles (medium first, then close-up) and over-the-shoulder
  shots on the last other on-screen character; V.O./O.S. lines play over a reaction shot;
  dual dialogue is one two-shot;
- durations: speech from the words per minute of the line's language, action from its
  length;
- transitions go to the preceding shot; level-1 sections are acts; synopses and notes go
  to act synopses and shot notes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ..models import (
    Act,
    ActKind,
    Atmosphere,
    Camera,
    CameraAngle,
    CameraMove,
    CastMember,
    DialogueLine,
    Direction,
    Movement,
    Shot,
    ShotSource,
    Storyboard,
    TimeOfDay,
    Transition,
    TransitionKind,
)
from ..store.hashing import canonical_json, stable_hash
from .describe import DETECT_LANGUAGES, DETECT_MIN_CONFIDENCE, atmosphere_from, detect_language
from .parse import (
    ActionPara,
    Heading,
    NotePara,
    Script,
    SectionPara,
    Speech,
    SynopsisPara,
    TransitionPara,
    fold,
    slugify,
)

#: Speaking rate per language, words per minute (conversational drama delivery; fast
#: languages in syllables per second such as es/ja are faster in words too).
WORDS_PER_MINUTE: dict[str, int] = {
    "en": 150, "fr": 160, "es": 170, "it": 165, "pt": 160, "de": 135, "nl": 145,
    "sv": 145, "da": 145, "no": 145, "fi": 120, "pl": 135, "ru": 135, "uk": 135,
    "tr": 140, "ar": 130, "he": 140, "hi": 140, "sw": 140, "id": 150, "vi": 160,
    "el": 145, "cs": 135, "hu": 125, "ro": 155,
}
#: Languages written without spaces between words: characters per minute instead.
CHARS_PER_MINUTE: dict[str, int] = {"ja": 350, "zh": 250, "cmn": 250, "yue": 250, "th": 400,
                                    "ko": 280}
DEFAULT_WPM = 150
#: Seconds of screen time per word of action description, and bounds.
ACTION_BASE_S, ACTION_PER_WORD_S, ACTION_MIN_S, ACTION_MAX_S = 1.5, 0.3, 2.0, 20.0
SPEECH_PAD_S, PARENTHETICAL_S, SPEECH_MIN_S, MAX_SHOT_S = 0.4, 0.5, 1.0, 120.0
ESTABLISHING_S = {True: 3.0, False: 4.0}  # interior, exterior

TRACKED_FIELDS = ("scene", "characters", "action", "dialogue", "camera", "duration_s",
                  "transition", "notes", "time_of_day", "atmosphere")
OPTIONAL_TRACKED = frozenset({"atmosphere"})
#: Action that refers to the characters on screen without naming them ("Both freeze.").
_GROUP_RE = re.compile(r"\b(both|they|them|everyone|everybody|the two|the pair|all of them|"
                       r"the others|together)\b", re.IGNORECASE)

_CLOSE_PARENS = re.compile(r"\b(whisper|quiet|soft|tear|cry|crying|sob|breath|beat|"
                           r"intense|emotional|choked|trembl)", re.IGNORECASE)
_SECONDARY_ANGLES = [
    (re.compile(r"\bPOV\b"), CameraAngle.point_of_view),
    (re.compile(r"\b(INSERT|CLOSE ON|CLOSE UP|CLOSE-UP|ON THE|EXTREME CLOSE)\b"),
     CameraAngle.close_up),
    (re.compile(r"\b(WIDE|AERIAL|ESTABLISHING)\b"), CameraAngle.wide),
    (re.compile(r"\b(ANGLE ON|BACK ON|BACK IN|BACK TO)\b"), CameraAngle.medium_wide),
]


def _base_language(lang: str) -> str:
    return lang.split("-", 1)[0].lower()


def speech_seconds(text: str, language: str | None, parentheticals: int = 0) -> float:
    """Screen time of a spoken line: words (or characters) / rate of its language."""
    lang = _base_language(language or "en")
    if lang in CHARS_PER_MINUTE:
        units = len(re.sub(r"\s+", "", text))
        rate = CHARS_PER_MINUTE[lang]
    else:
        units = len(text.split())
        rate = WORDS_PER_MINUTE.get(lang, DEFAULT_WPM)
    seconds = SPEECH_PAD_S + units * 60.0 / rate + PARENTHETICAL_S * parentheticals
    return round(min(MAX_SHOT_S, max(SPEECH_MIN_S, seconds)), 1)


def action_seconds(text: str) -> float:
    """Screen time of an action paragraph: grows with its length, clamped to 2..20 s."""
    words = len(text.split())
    return round(min(ACTION_MAX_S, max(ACTION_MIN_S, ACTION_BASE_S + ACTION_PER_WORD_S * words)),
                 1)


def _hash_value(value: object) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:16]


def field_hashes(shot: Shot) -> dict[str, str]:
    dumped = shot.model_dump(mode="json", include=set(TRACKED_FIELDS))
    # fields added later are hashed only when set: boards imported before keep their hashes
    return {f: _hash_value(dumped.get(f)) for f in TRACKED_FIELDS
            if f not in OPTIONAL_TRACKED or dumped.get(f) is not None}


def stamp_source(shot: Shot, key: str) -> None:
    shot.source = ShotSource(key=key, field_hashes=field_hashes(shot))


@dataclass
class BreakdownInput:
    """What the breakdown needs to know about the project."""

    episode: str
    scene_ids: list[str]  # one per script heading, in order (secondary ones too)
    character_ids: dict[str, list[str]]  # merged cue name -> character ids
    voice_language: dict[str, str] = field(default_factory=dict)  # character id -> lang
    title: str = ""
    preamble_scene: str | None = None  # scene for action/dialogue before the first heading
    languages: tuple[str, ...] = DETECT_LANGUAGES  # what a line's language is detected among


FADE_IN_RE = re.compile(r"^\W*FADE IN\W*$", re.IGNORECASE)


@dataclass
class _Block:
    number: int
    scene: str
    interior: bool
    time_of_day: TimeOfDay | None
    language: str | None = None
    atmosphere: Atmosphere | None = None
    present: list[str] = field(default_factory=list)
    shot_no: int = 0
    speech_no: int = 0
    singles: set[str] = field(default_factory=set)


class _Breakdown:
    def __init__(self, script: Script, inp: BreakdownInput) -> None:
        self.script = script
        self.inp = inp
        self.acts: list[Act] = []
        self.act: Act | None = None
        self.block: _Block | None = None
        self.blocks = 0
        self.last: Shot | None = None
        self.open_shot: Shot | None = None  # establishing/secondary shot awaiting its action
        self.pending_notes: list[str] = []
        self.pending_transitions: list[tuple[str, TransitionKind]] = []
        self.keys: dict[str, int] = {}
        self.passages: dict[str, str] = {}  # shot id -> source passage text (for its key)
        self.roles: dict[str, str] = {}
        self.warnings: list[str] = []
        self.has_sections = any(isinstance(e, SectionPara) and e.level == 1
                                for e in script.elements)
        self.heading_no = 0
        self.tod: TimeOfDay | None = None
        #: scene id -> atmosphere of its heading or first description (for new scenes)
        self.scene_atmosphere: dict[str, Atmosphere] = {}
        #: scene id -> the first description under its first heading (set props)
        self.scene_description: dict[str, str] = {}
        self._mention_re = self._mentions_regex()

    # -- helpers ---------------------------------------------------------------------------
    def _mentions_regex(self) -> re.Pattern[str] | None:
        forms: dict[str, str] = {}
        for name, ids in self.inp.character_ids.items():
            if len(ids) != 1 or len(name) < 2:
                continue
            forms[name] = ids[0]
            forms[name.title()] = ids[0]
        self._forms = forms
        if not forms:
            return None
        alts = sorted(forms, key=len, reverse=True)
        return re.compile(r"(?<![\w'])(" + "|".join(re.escape(a) for a in alts) + r")(?![\w])")

    def mentions(self, text: str) -> list[str]:
        if self._mention_re is None:
            return []
        out: dict[str, None] = {}
        for m in self._mention_re.finditer(text):
            out.setdefault(self._forms[m.group(1)], None)
        return list(out)

    def _ensure_act(self) -> Act:
        if self.act is None:
            if self.has_sections:
                self._new_act("Opening", ActKind.cold_open, "opening")
            else:
                self._new_act("", ActKind.act, "act-1")
        assert self.act is not None
        return self.act

    def _new_act(self, title: str, kind: ActKind, act_id: str | None = None) -> None:
        base = act_id or slugify(title, sep="-") or "act"
        used = {a.id for a in self.acts}
        aid, n = base, 2
        while aid in used:
            aid, n = f"{base}-{n}", n + 1
        self.act = Act(id=aid, title=title, kind=kind)
        self.acts.append(self.act)

    def _cast(self, ids: list[str]) -> list[CastMember]:
        return [CastMember(character=c) for c in dict.fromkeys(ids)]

    def _new_shot(self, role: str, passage: str, *, angle: CameraAngle,
                  characters: list[str], subject: str | None = None,
                  movement: CameraMove | None = None, duration: float = 3.0,
                  action: str = "") -> Shot:
        act = self._ensure_act()
        block = self.block
        assert block is not None
        block.shot_no += 1
        shot = Shot(
            id=f"s{block.number:03d}-{block.shot_no:02d}",
            scene=block.scene,
            characters=self._cast(characters),
            action=action,
            camera=Camera(angle=angle, movement=movement or CameraMove(), subject=subject),
            duration_s=duration,
            time_of_day=block.time_of_day,
            atmosphere=block.atmosphere,
        )
        if self.pending_notes:
            shot.notes = "\n".join(self.pending_notes)
            self.pending_notes = []
        act.shots.append(shot)
        self.last = shot
        self.passages[shot.id] = passage
        self.roles[shot.id] = f"{block.scene}:{role}"
        return shot

    def _add_note(self, shot: Shot, note: str) -> None:
        shot.notes = f"{shot.notes}\n{note}" if shot.notes else note

    # -- elements --------------------------------------------------------------------------
    def run(self) -> Storyboard:
        prev = None
        for el in self.script.elements:
            if isinstance(el, SectionPara):
                self.section(el)
            elif isinstance(el, SynopsisPara):
                self.synopsis(el, prev)
            elif isinstance(el, Heading):
                self.heading(el)
            elif isinstance(el, ActionPara):
                self.action(el)
            elif isinstance(el, Speech):
                self.speech(el)
            elif isinstance(el, TransitionPara):
                self.transition(el)
            elif isinstance(el, NotePara):
                if el.language and self.block is not None:
                    self.block.language = el.language
                self.pending_notes.extend(el.notes)
            prev = el
        if self.last is None and self.inp.preamble_scene and (
                self.pending_notes or self.pending_transitions or self.acts):
            # nothing but structure (sections, synopses, transitions): one opening shot
            # holds it, so the script still imports and its acts are kept
            self._need_block("structure", 1)
            first_act = self.acts[0] if self.acts else None
            self.act = first_act
            shot = self._new_shot("est", "\n".join(self.pending_notes) or "opening",
                                  angle=CameraAngle.wide, characters=[],
                                  duration=ESTABLISHING_S[False])
            for text, kind in self.pending_transitions:
                self._add_note(shot, f"transition: {text}")
                if shot.transition.kind is TransitionKind.cut:
                    shot.transition = Transition(kind=kind)
            acts = list(self.acts)
        else:
            acts = [a for a in self.acts if a.shots]
        if self.pending_notes and self.last is not None:
            self._add_note(self.last, "\n".join(self.pending_notes))
        for act in acts:
            for shot in act.shots:
                role = self.roles[shot.id]
                key = f"{role}:{stable_hash(self.passages[shot.id])[:12]}"
                n = self.keys.get(key, 0) + 1
                self.keys[key] = n
                stamp_source(shot, key if n == 1 else f"{key}#{n}")
        return Storyboard(episode=self.inp.episode, title=self.inp.title, acts=acts)

    def section(self, el: SectionPara) -> None:
        if el.level == 1:
            self.open_shot = None
            upper = fold(el.text)
            if re.search(r"\b(COLD OPEN|TEASER|PROLOGUE)\b", upper):
                kind = ActKind.cold_open
            elif re.search(r"\b(TAG|HOOK|STINGER|EPILOGUE|CODA)\b", upper):
                kind = ActKind.hook
            else:
                kind = ActKind.act
            self._new_act(el.text, kind)
            if el.synopsis and self.act is not None:
                self.act.synopsis = el.synopsis
        else:
            self.pending_notes.append(f"section: {el.text}" +
                                      (f" - {el.synopsis}" if el.synopsis else ""))

    def synopsis(self, el: SynopsisPara, prev: object) -> None:
        if not el.text:
            return
        if isinstance(prev, SectionPara | SynopsisPara) and self.act is not None \
                and not self.act.shots and (not isinstance(prev, SectionPara) or prev.level == 1):
            self.act.synopsis = f"{self.act.synopsis} {el.text}".strip()
        elif isinstance(prev, Heading) and self.last is not None:
            self._add_note(self.last, f"synopsis: {el.text}")
        else:
            self.pending_notes.append(f"synopsis: {el.text}")

    def heading(self, h: Heading) -> None:
        scene_id = self.inp.scene_ids[self.heading_no]
        self.heading_no += 1
        if h.secondary and self.block is not None:
            angle = CameraAngle.medium
            for rx, a in _SECONDARY_ANGLES:
                if rx.search(h.text):
                    angle = a
                    break
            shot = self._new_shot("sec", h.text, angle=angle, characters=[], duration=2.0)
            if h.time_of_day is not None:
                shot.time_of_day = h.time_of_day
            atm = atmosphere_from(h.text)
            if atm is not None:
                shot.atmosphere = atm
            self._add_note(shot, f"heading: {h.text}")
            self.open_shot = shot
            return
        self.blocks += 1
        tod = h.time_of_day or self.tod
        self.tod = tod
        self.block = _Block(self.blocks, scene_id, h.interior, tod,
                            atmosphere=atmosphere_from(h.text))
        if self.block.atmosphere is not None:
            self.scene_atmosphere.setdefault(scene_id, self.block.atmosphere)
        est_move = (CameraMove() if h.interior
                    else CameraMove(type=Movement.pan, direction=Direction.right, speed=0.2))
        shot = self._new_shot("est", h.text, angle=(CameraAngle.wide if h.interior
                                                    else CameraAngle.extreme_wide),
                              characters=[], movement=est_move,
                              duration=ESTABLISHING_S[h.interior])
        self._add_note(shot, f"heading: {h.text}")
        if h.synopsis:
            self._add_note(shot, f"synopsis: {h.synopsis}")
        for note in self.script.notes.get(h.line, []):
            self._add_note(shot, note)
        self.open_shot = shot

    def _need_block(self, what: str, line: int) -> bool:
        if self.block is None and self.inp.preamble_scene:
            # text before the first heading (a cold open without a slug): its own block
            self.blocks += 1
            self.block = _Block(self.blocks, self.inp.preamble_scene, False, None)
        if self.block is None:
            self.warnings.append(f"line {line}: {what} before the first scene heading is not "
                                 "storyboarded")
            return False
        return True

    def action(self, el: ActionPara) -> None:
        if FADE_IN_RE.match(el.text):
            return
        if not self._need_block("action", el.line):
            return
        block = self.block
        assert block is not None
        if el.centered and self.last is not None:
            # '>THE END<': text on the picture, not a shot of its own
            self._add_note(self.last, f"centered: {el.text}")
            return
        named = self.mentions(el.text)
        if not named and block.present and _GROUP_RE.search(el.text):
            named = list(block.present)  # "Both freeze."
        for c in named:
            if c not in block.present:
                block.present.append(c)
        shot = self.open_shot
        self.open_shot = None
        atm = atmosphere_from(el.text)
        if atm is not None:
            block.atmosphere = atm
        if block.shot_no <= 1:  # the first description of the block (prologues too)
            self.scene_description.setdefault(block.scene, el.text)
            if atm is not None:
                self.scene_atmosphere.setdefault(block.scene, atm)
        if shot is not None:
            shot.action = f"{shot.action} {el.text}".strip()
            shot.characters = self._cast([m.character for m in shot.characters] + named)
            shot.duration_s = max(shot.duration_s, action_seconds(shot.action))
            self.passages[shot.id] += "\n" + el.text
        else:
            if not named:
                angle = CameraAngle.wide
            elif len(named) == 1:
                angle = CameraAngle.medium
            else:
                angle = CameraAngle.medium_wide
            shot = self._new_shot("act", el.text, angle=angle, characters=named or [],
                                  subject=named[0] if len(named) == 1 else None,
                                  duration=action_seconds(el.text), action=el.text)
        if atm is not None:
            shot.atmosphere = atm
        if el.lyric:
            self._add_note(shot, "lyric: sung, not spoken")
        for note in self.script.notes.get(el.line, []):
            self._add_note(shot, note)

    def _lines_for(self, sp: Speech, ids: list[str], dual: bool) -> list[DialogueLine]:
        block = self.block
        lines: list[DialogueLine] = []
        for i, cid in enumerate(ids):
            for j, part in enumerate(sp.parts):
                lang = part.language or (block.language if block else None)
                if lang is None and i == 0:
                    lang = self._detected(part.text, cid, sp.line)
                elif lang is None:
                    lang = lines[j].language if j < len(lines) else None
                lines.append(DialogueLine(character=cid, text=part.text, language=lang,
                                          parenthetical=part.parenthetical,
                                          dual=dual or (i > 0 and j == 0), lyric=part.lyric))
        return lines

    def _detected(self, text: str, cid: str, line: int) -> str | None:
        """The line's language when it is clearly not the speaker's voice language."""
        voice = (self.inp.voice_language.get(cid) or "en").split("-")[0].lower()
        found = detect_language(text, self.inp.languages)
        if found is None:
            return None
        lang, conf = found
        if lang == voice or conf < DETECT_MIN_CONFIDENCE:
            return None
        self.warnings.append(
            f"line {line}: {text[:40]!r} reads as {lang} ({conf:.0%} sure) but {cid}'s voice "
            f"speaks {voice}: the line is set to language {lang} (mark it with [[lang: "
            f"{voice}]] if that is wrong)")
        return lang

    def _speech_duration(self, sp: Speech, ids: list[str]) -> float:
        block = self.block
        total = 0.0
        for part in sp.parts:
            lang = (part.language or (block.language if block else None)
                    or (self.inp.voice_language.get(ids[0]) if ids else None))
            total += speech_seconds(part.text, lang, 1 if part.parenthetical else 0)
        return round(min(MAX_SHOT_S, max(SPEECH_MIN_S, total)), 1)

    def speech(self, sp: Speech) -> None:
        if not self._need_block("dialogue", sp.line):
            return
        block = self.block
        assert block is not None
        ids = self.inp.character_ids.get(sp.name, [])
        if not ids:
            return
        speaker = ids[0]
        passage = sp.cue + "\n" + "\n".join(f"({p.parenthetical}) {p.text}"
                                            if p.parenthetical else p.text for p in sp.parts)
        if sp.dual and self.last is not None and self.last.dialogue:
            shot = self.last
            shot.dialogue = shot.dialogue + self._lines_for(sp, ids, dual=True)
            shot.characters = self._cast([m.character for m in shot.characters] + ids)
            shot.camera = Camera(angle=CameraAngle.medium_wide)
            shot.duration_s = max(shot.duration_s, self._speech_duration(sp, ids))
            self.passages[shot.id] += "\n" + passage
            return
        self.open_shot = None
        if sp.prelap and self.last is not None and \
                self.last.transition.kind == TransitionKind.cut:
            self.last.transition = Transition(kind=TransitionKind.j_cut)
        others = [c for c in reversed(block.present) if c not in ids]
        listener = others[0] if others else None
        k = block.speech_no
        block.speech_no += 1
        close = any(p.parenthetical and _CLOSE_PARENS.search(p.parenthetical)
                    for p in sp.parts) or any(_CLOSE_PARENS.search(t) for t in sp.trailing)
        if sp.offscreen:
            # heard, not seen: play the line over whoever is on screen
            if listener is not None:
                angle, cast, subject = CameraAngle.medium, [listener], listener
            else:
                angle, cast, subject = CameraAngle.wide, [], None
        else:
            for c in ids:
                if c not in block.present:
                    block.present.append(c)
            if listener is not None and k % 2 == 1:
                angle, cast, subject = CameraAngle.over_the_shoulder, [*ids, listener], speaker
            else:
                first_single = speaker not in block.singles
                block.singles.add(speaker)
                angle = CameraAngle.close_up if (close or not first_single) else \
                    CameraAngle.medium
                cast, subject = list(ids), speaker
        shot = self._new_shot("dlg", passage, angle=angle, characters=cast, subject=subject,
                              duration=self._speech_duration(sp, ids))
        shot.dialogue = self._lines_for(sp, ids, dual=False)
        if not shot.dialogue:
            shot.action = f"{sp.name.title()} ({'; '.join(sp.trailing) or 'silent'})"
        elif sp.trailing:
            self._add_note(shot, "parenthetical: " + "; ".join(sp.trailing))
        for note in self.script.notes.get(sp.line, []):
            self._add_note(shot, note)

    def transition(self, el: TransitionPara) -> None:
        if self.last is None:
            self.pending_transitions.append((el.text, el.kind))
            self.warnings.append(f"line {el.line}: transition {el.text!r} before any shot is "
                                 "ignored")
            return
        if self.last.transition.kind == TransitionKind.fade and el.kind != TransitionKind.fade:
            # FADE TO BLACK. then CUT TO: the fade is what the picture does; keep it
            self._add_note(self.last, f"transition: {el.text} (after a fade; the fade kept)")
        else:
            self.last.transition = Transition(kind=el.kind)
        plain = re.sub(r"[^A-Z ]", "", el.text.upper()).strip()
        if plain not in {"CUT TO", "DISSOLVE TO", "FADE OUT", "FADE TO BLACK", "MATCH CUT TO",
                         "WIPE TO", "FADE TO WHITE"}:
            self._add_note(self.last, f"transition: {el.text}")
        self.open_shot = None


@dataclass
class BreakdownResult:
    storyboard: Storyboard
    warnings: list[str]
    scene_atmosphere: dict[str, Atmosphere]  # scene id -> from its heading/first description
    scene_description: dict[str, str]  # scene id -> its first description (set props)


def breakdown_full(script: Script, inp: BreakdownInput) -> BreakdownResult:
    """The storyboard, warnings and what the script says about each scene's set."""
    b = _Breakdown(script, inp)
    sb = b.run()
    return BreakdownResult(sb, b.warnings, b.scene_atmosphere, b.scene_description)


def breakdown(script: Script, inp: BreakdownInput) -> tuple[Storyboard, list[str]]:
    """Build the first-pass storyboard; also return warnings (lines not storyboarded)."""
    r = breakdown_full(script, inp)
    return r.storyboard, r.warnings
