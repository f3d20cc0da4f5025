"""The prompt linter: finds what makes a generator drift before anything is paid for.

Faults (``LintProblem.kind``):
- ``conflict``: mutually exclusive descriptors (night and midday, interior and exterior,
  static camera and a pan, two light directions, a character's hair or garment described in
  a colour that contradicts the bible);
- ``missing-character``: a character in the shot is not named in the prompt;
- ``over-length``: longer than the engine accepts;
- ``banned-term``: a term from the policy's list;
- ``identity-dropped``: an identity phrase the compiler put in (hair, skin, outfit) is gone,
  e.g. after a hand edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engines.base import ShotSpec
from ..errors import Problem
from .colours import ALL_COLOUR_WORDS, colour_word, hair_word
from .compiler import CompiledPrompt, PromptPolicy


@dataclass
class LintProblem(Problem):
    kind: str = ""


#: exclusive groups: each group maps a class name to the words that signal it
CONFLICT_GROUPS: dict[str, dict[str, list[str]]] = {
    "time of day": {
        "dawn": ["dawn", "sunrise", "daybreak"],
        "day": ["midday", "noon", "daylight", "daytime", "midday sun", "bright sunshine"],
        "dusk": ["dusk", "sunset", "twilight"],
        "night": ["night", "nighttime", "midnight", "moonlight", "moonlit"],
    },
    "setting": {
        "interior": ["interior", "indoors"],
        "exterior": ["exterior", "outdoors", "open air"],
    },
    "camera": {
        "static": ["static camera", "locked-off", "tripod shot"],
        "moving": ["handheld", "pan left", "pan right", "tilt up", "tilt down", "dolly in",
                   "dolly out", "zoom in", "zoom out", "crane up", "crane down", "truck left",
                   "truck right", "tracking shot"],
    },
    "weather": {
        "clear": ["clear sky", "clear air", "cloudless", "sunny"],
        "precipitation": ["rain", "raining", "snow", "snowing", "storm"],
    },
}
_LIGHT_RE = re.compile(r"\b(?:lit|light|lighting|sun|sunlight)\s+from\s+(?:the\s+)?"
                       r"(front-left|front-right|back-left|back-right|front|back|behind|left|"
                       r"right)\b", re.I)
_SENTENCE_RE = re.compile(r"(?<=[.;!?\n])\s*")


def _has(text: str, phrase: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(phrase.lower()) + r"(?![\w-])", text) is not None


def _conflicts(text: str) -> list[str]:
    low = text.lower()
    out = []
    for group, classes in CONFLICT_GROUPS.items():
        found = {cls: [w for w in words if _has(low, w)] for cls, words in classes.items()}
        found = {c: w for c, w in found.items() if w}
        if len(found) > 1:
            said = "; ".join(f"{c}: {', '.join(w)}" for c, w in sorted(found.items()))
            out.append(f"{group} conflicts ({said})")
    directions = {m.group(1).lower().replace("behind", "back") for m in _LIGHT_RE.finditer(text)}
    if len(directions) > 1:
        out.append(f"light direction conflicts ({', '.join(sorted(directions))})")
    return out


def _identity_conflicts(text: str, spec: ShotSpec) -> list[str]:
    """A character's hair or garment named in a colour other than the bible's."""
    out = []
    sentences = [s for s in _SENTENCE_RE.split(text) if s.strip()]
    single = len(spec.characters) == 1
    colours = "|".join(re.escape(c) for c in ALL_COLOUR_WORDS)
    for rc in spec.characters:
        ch = rc.character
        names = [ch.name.lower(), ch.name.split()[0].lower(), *[a.lower() for a in ch.aliases]]
        nouns = {"hair": hair_word(ch.appearance.hair_colour)}
        for g in rc.garments:
            nouns[g.name.lower()] = colour_word(g.colours[0])
        for sentence in sentences:
            low = sentence.lower()
            if not single and not any(_has(low, n) for n in names):
                continue
            for noun, expected in nouns.items():
                pattern = (rf"(?<![\w-])({colours})(?:\s+\w+)?\s+{re.escape(noun)}(?![\w-])")
                for m in re.finditer(pattern, low):
                    said = m.group(1)
                    if said != expected and said not in expected.split() \
                            and expected not in said:
                        out.append(f"{ch.name}'s {noun} is {said!r} here but {expected!r} in "
                                   "the bible")
    return list(dict.fromkeys(out))


def lint_prompt(compiled: CompiledPrompt, spec: ShotSpec | None = None, *,
                policy: PromptPolicy | None = None, file: str | None = None) -> list[LintProblem]:
    """Every fault in a (compiled, possibly hand-edited) prompt; [] when clean."""
    policy = policy or PromptPolicy()
    text = compiled.prompt
    low = text.lower()
    where = file or f"episodes/{compiled.episode}/prompts/{compiled.shot_id}." \
                    f"{compiled.engine}.json"
    problems: list[LintProblem] = []

    def add(kind: str, message: str, hint: str, field: str = "prompt") -> None:
        problems.append(LintProblem(where, f"shot {compiled.shot_id}: {message}", None, field,
                                    hint, kind=kind))

    if len(text) > compiled.max_chars:
        add("over-length", f"prompt is {len(text)} characters; {compiled.engine} accepts "
            f"{compiled.max_chars}", "shorten the action or the set description, or route the "
            "shot to an engine with a longer limit")
    for term in policy.banned_terms:
        if term.strip() and _has(low, term.strip()):
            add("banned-term", f"banned term {term!r}",
                "remove it (the list is prompt_policy.yaml: banned_terms)")
    ids = [rc.character.id for rc in spec.characters] if spec else compiled.characters
    for cid in ids:
        tokens = compiled.identity_tokens.get(cid)
        if spec is not None:
            rc = next(r for r in spec.characters if r.character.id == cid)
            names = [rc.character.name, *rc.character.aliases]
            if rc.character.lora:
                names.append(rc.character.lora.trigger)
        else:
            names = tokens[:1] if tokens else [cid]
        if not any(_has(low, n.lower()) for n in names):
            add("missing-character", f"character {cid!r} is in the shot but not in the prompt",
                f"name them ({names[0]}) and describe them, or recompile the prompt")
            continue
        for token in (tokens or [])[1:]:
            if not _has(low, token.lower()):
                add("identity-dropped", f"identity phrase {token!r} of {cid} was dropped",
                    "put it back (without it the engine invents hair/outfit) or recompile",
                    field=f"identity_tokens.{cid}")
    for c in _conflicts(text):
        add("conflict", c, "keep one; the scene file decides time of day, setting and light")
    if spec is not None:
        for c in _identity_conflicts(text, spec):
            add("conflict", c, "change the character's bible or wardrobe, not the prompt")
    return problems
