"""What the script's words say about the picture and the voices (docs/fountain.md).

Small, explicit readers over action text and headings: atmosphere (fog, rain, snow, smoke,
dust, storm), costume and hair colours, gender and age of a character introduction, set props
of a scene's first description, and the language a line is written in (lingua, bundled
models). They only ever fill what a new scene or character leaves as a placeholder; a
hand-made bible is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .. import colour_words as vocab
from ..models import Atmosphere, AtmosphereKind, GarmentKind, VoiceAge, VoiceGender

# -- atmosphere ------------------------------------------------------------------------------
_ATMOS: list[tuple[re.Pattern[str], AtmosphereKind, float]] = [
    (re.compile(r"\b(sand ?storm|dust ?storm|dust|dusty)\b", re.I), AtmosphereKind.dust, 0.5),
    (re.compile(r"\b(blizzard|snow\w*|sleet)\b", re.I), AtmosphereKind.snow, 0.6),
    (re.compile(r"\b(storm\w*|rain\w*|downpour|drizzl\w*|thunder\w*|squall)\b", re.I),
     AtmosphereKind.rain, 0.6),
    (re.compile(r"\b(fog\w*|mist\w*)\b", re.I), AtmosphereKind.fog, 0.6),
    (re.compile(r"\b(smoke|smoky|smoking ruins|smoulder\w*|smolder\w*)\b", re.I),
     AtmosphereKind.smoke, 0.5),
    (re.compile(r"\b(haze|hazy)\b", re.I), AtmosphereKind.haze, 0.4),
]
_DENSE = re.compile(r"\b(thick|dense|heavy|heavily|pouring|lashing|howling|raging|blinding|"
                    r"pea-soup|driving)\b", re.I)
_LIGHT = re.compile(r"\b(light|thin|faint|wisps?|gentle|slight)\b", re.I)
_STORM = re.compile(r"\b(storm|gale|thunder)", re.I)
_NEGATED = re.compile(r"\b(no|without|not a)\s+(\w+\s+)?$", re.I)


def atmosphere_from(text: str) -> Atmosphere | None:
    """'Fog rolls in.' -> Atmosphere(fog, 0.6); 'A storm rages' -> rain 0.85; None if none."""
    for rx, kind, density in _ATMOS:
        m = rx.search(text)
        if m is None or _NEGATED.search(text[: m.start()]):
            continue
        if _DENSE.search(text) or (kind is AtmosphereKind.rain and _STORM.search(text)):
            density = 0.85
        elif _LIGHT.search(text):
            density = 0.3
        return Atmosphere(kind=kind, density=density)
    return None


# -- colours, garments, hair -----------------------------------------------------------------
#: colour word -> hex as a script says it (entries and synonyms of ``studio_kit.colour_words``,
#: the vocabulary the prompts name colours with, so "red" comes back as "red")
COLOURS: dict[str, str] = {w: vocab.colour_hex(w) or "" for w in vocab.words()}
HAIR_COLOURS: dict[str, str] = {w: vocab.hair_hex(w) or "" for w in vocab.words(hair=True)}
GARMENTS: dict[str, GarmentKind] = {
    "oilskin": GarmentKind.coat, "raincoat": GarmentKind.coat, "coat": GarmentKind.coat,
    "overcoat": GarmentKind.coat, "parka": GarmentKind.coat, "trenchcoat": GarmentKind.coat,
    "cloak": GarmentKind.coat, "anorak": GarmentKind.coat, "slicker": GarmentKind.coat,
    "jacket": GarmentKind.jacket, "blazer": GarmentKind.jacket, "windbreaker": GarmentKind.jacket,
    "cap": GarmentKind.hat, "hat": GarmentKind.hat, "beanie": GarmentKind.hat,
    "beret": GarmentKind.hat, "bonnet": GarmentKind.hat, "helmet": GarmentKind.hat,
    "shirt": GarmentKind.top, "t-shirt": GarmentKind.top, "sweater": GarmentKind.top,
    "jumper": GarmentKind.top, "blouse": GarmentKind.top, "hoodie": GarmentKind.top,
    "top": GarmentKind.top, "vest": GarmentKind.top, "cardigan": GarmentKind.top,
    "uniform": GarmentKind.top, "dress": GarmentKind.dress, "gown": GarmentKind.dress,
    "robe": GarmentKind.dress, "trousers": GarmentKind.trousers, "pants": GarmentKind.trousers,
    "jeans": GarmentKind.trousers, "overalls": GarmentKind.trousers,
    "shorts": GarmentKind.trousers, "skirt": GarmentKind.skirt, "boots": GarmentKind.shoes,
    "shoes": GarmentKind.shoes, "sneakers": GarmentKind.shoes, "wellies": GarmentKind.shoes,
    "scarf": GarmentKind.scarf, "shawl": GarmentKind.scarf, "glasses": GarmentKind.glasses,
    "spectacles": GarmentKind.glasses, "sunglasses": GarmentKind.glasses,
    "tie": GarmentKind.accessory, "gloves": GarmentKind.accessory,
}


def _alternation(words: list[str]) -> str:
    """Longest first; a space in a word ('dark grey') matches whitespace or a hyphen."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"[\s-]+") for w in ordered)


_COLOUR_ALT = _alternation(list(COLOURS))
_GARMENT_ALT = "|".join(sorted((re.escape(g) for g in GARMENTS), key=len, reverse=True))
_GARMENT_RE = re.compile(
    rf"\b(?P<c>{_COLOUR_ALT})(?:[- ](?:and[- ])?(?P<c2>{_COLOUR_ALT}))?"
    rf"(?:\s+[a-z'-]+){{0,2}}?\s+(?P<g>{_GARMENT_ALT})\b", re.I)
_HAIR_ALT = _alternation(list(HAIR_COLOURS))
_HAIR_RE = re.compile(
    rf"\b(?P<h>{_HAIR_ALT})(?:[- ]haired\b|(?:\s+[a-z-]+){{0,2}}?\s+(?:hair|beard|locks|"
    rf"mane|curls)\b)", re.I)
_BALD_RE = re.compile(r"\b(bald|shaved head|shaven head)\b", re.I)

# -- gender and age --------------------------------------------------------------------------
#: nouns say who the character is (weight 3) unless they follow a possessive ("his wife"
#: is someone else); pronouns count 1
_POSSESSIVE = r"(?<!\bhis )(?<!\bher )(?<!\btheir )(?<!'s )"
_FEMALE_N = re.compile(_POSSESSIVE + r"\b(woman|girl|lady|mother|mom|mum|wife|daughter|"
                       r"sister|aunt|grandmother|grandma|widow|queen|princess|actress|"
                       r"waitress|mrs|ms|miss|niece|bride|nun|matriarch)\b", re.I)
_MALE_N = re.compile(_POSSESSIVE + r"\b(man|boy|gentleman|guy|father|dad|husband|son|brother|"
                     r"uncle|grandfather|grandpa|widower|king|prince|mr|sir|nephew|groom|"
                     r"priest|fisherman|lad|patriarch)\b", re.I)
_APPOSITION = re.compile(r"^[\w .'-]*?(?:\([^)]*\))?\s*,\s*((?:[\w'-]+\s+){0,4}[\w'-]+)")
_FEMALE_P = re.compile(r"\b(she|her|hers|herself)\b", re.I)
_MALE_P = re.compile(r"\b(he|him|his|himself)\b", re.I)
_AGE_NUM = re.compile(r"\((?:early |mid |late |mid-|early-|late-)?(\d{1,2})(?:'?s)?\)|"
                      r"\bage[ds]? (\d{1,2})\b|\b(\d)0'?s\b", re.I)
_CHILD = re.compile(r"\b(child|kid|toddler|baby|little (?:girl|boy)|infant)\b", re.I)
_YOUNG = re.compile(r"\b(young|teen\w*|youth|girl|boy|lad|student)\b", re.I)
_OLD = re.compile(r"\b(old|elderly|aged|aging|ageing|grey-haired|gray-haired|white-haired|"
                  r"grandmother|grandfather|grandma|grandpa|wizened|retired)\b", re.I)


@dataclass
class Looks:
    """What one character's introduction says (None/empty: not said)."""

    garments: list[tuple[str, GarmentKind, list[str]]] = field(default_factory=list)
    hair: str | None = None
    bald: bool = False
    gender: VoiceGender | None = None
    age: VoiceAge | None = None

    @property
    def empty(self) -> bool:
        return not (self.garments or self.hair or self.bald or self.gender or self.age)


def age_from_years(years: int) -> VoiceAge:
    if years < 13:
        return VoiceAge.child
    if years < 30:
        return VoiceAge.young
    if years < 60:
        return VoiceAge.adult
    return VoiceAge.older


def looks_from(text: str, name: str) -> Looks:
    """Read a character's introduction: the text from the name to the next name/sentence."""
    out = Looks()
    seen: set[str] = set()
    for m in _GARMENT_RE.finditer(text):
        noun = m.group("g").lower()
        if noun in seen:
            continue
        seen.add(noun)
        word = vocab.canonical(m.group("c")) or ""
        cols = [vocab.COLOURS[word]]
        if m.group("c2"):
            cols.append(vocab.COLOURS[vocab.canonical(m.group("c2")) or ""])
        # named with the vocabulary's word ("gray coat" -> "grey coat"), as the prompt says it
        out.garments.append((f"{word} {noun}", GARMENTS[noun], cols))
    hm = _HAIR_RE.search(text)
    if hm:
        out.hair = vocab.hair_hex(hm.group("h"))
    out.bald = bool(_BALD_RE.search(text))
    f = 3 * len(_FEMALE_N.findall(text)) + len(_FEMALE_P.findall(text))
    m_ = 3 * len(_MALE_N.findall(text)) + len(_MALE_P.findall(text))
    ap = _APPOSITION.match(text[len(name):] if text.upper().startswith(name.upper()) else "")
    if ap:  # "SANDRA, his wife," / "MARA (60s), a weathered woman": that is who she is
        said = ap.group(1)
        f += 10 * bool(_FEMALE_N.search(said) or re.search(r"\b(wife|daughter|mother|sister)\b",
                                                           said, re.I))
        m_ += 10 * bool(_MALE_N.search(said) or re.search(r"\b(husband|son|father|brother)\b",
                                                          said, re.I))
    if f > m_:
        out.gender = VoiceGender.female
    elif m_ > f:
        out.gender = VoiceGender.male
    am = _AGE_NUM.search(text)
    if am:
        years = am.group(1) or am.group(2)
        out.age = age_from_years(int(years) if years else int(am.group(3)) * 10)
    elif _CHILD.search(text):
        out.age = VoiceAge.child
    elif _OLD.search(text):
        out.age = VoiceAge.older
    elif _YOUNG.search(text):
        out.age = VoiceAge.young
    return out


_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def introduction(paragraphs: list[str], name: str, names: list[str]) -> str:
    """The sentences that introduce ``name``: the first sentence naming it (from the name to
    the next other name) and the following sentences while they name no one else."""
    forms = [name, name.title()]
    other = [n for n in names if n != name and len(n) >= 2]
    other_rx = (re.compile(r"(?<![\w'])(" + "|".join(re.escape(x) for y in other
                                                      for x in (y, y.title())) + r")(?!\w)")
                if other else None)
    rx = re.compile(r"(?<![\w'])(" + "|".join(re.escape(f) for f in forms) + r")(?!\w)")
    for para in paragraphs:
        m = rx.search(para)
        if m is None:
            continue
        sentences = _SENTENCE_RE.split(para[m.start():])
        out = []
        for i, s in enumerate(sentences):
            if other_rx is not None:
                om = other_rx.search(s, len(name) if i == 0 else 0)
                if om is not None:
                    out.append(s[: om.start()])
                    break
            out.append(s)
            if i >= 2:
                break
        return " ".join(out)
    return ""


# -- set props --------------------------------------------------------------------------------
PROPS = ["lighthouse", "boat", "table", "chair", "window", "door", "lamp", "bed", "desk",
         "sofa", "couch", "car", "truck", "tree", "bench", "fireplace", "counter", "stove",
         "piano", "television", "tv", "bookshelf", "rock", "pier", "dock", "tent", "campfire",
         "fire", "mirror", "wardrobe", "sink", "fridge", "bar", "cabinet", "crate", "barrel",
         "mast", "wheel", "lantern", "statue", "fountain", "well", "fence", "gate", "stairs",
         "ladder", "shed", "cottage", "house", "cliff", "bicycle", "bike", "horse", "cart",
         "bus", "train", "plane", "helicopter", "radio", "phone", "computer", "clock", "rug"]
_PROP_RE = re.compile(r"\b(" + "|".join(PROPS) + r")s?\b", re.I)


def props_from(text: str, limit: int = 4) -> list[str]:
    """Props a scene's first description names, in order: 'a lighthouse, a boat' -> [...]."""
    out: dict[str, None] = {}
    for m in _PROP_RE.finditer(text):
        word = m.group(1).lower()
        word = {"couch": "sofa", "tv": "television", "bike": "bicycle"}.get(word, word)
        out.setdefault(word, None)
        if len(out) >= limit:
            break
    return list(out)


# -- language of a line ----------------------------------------------------------------------
#: Languages the detector chooses among (plus any the series lists).
DETECT_LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "nl")
DETECT_MIN_WORDS = 4
DETECT_MIN_CONFIDENCE = 0.6


@lru_cache(maxsize=8)
def _detector(codes: tuple[str, ...]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = []
    for c in codes:
        iso = getattr(IsoCode639_1, c.upper(), None)
        if iso is not None:
            langs.append(Language.from_iso_code_639_1(iso))
    if len(langs) < 2:
        return None
    return LanguageDetectorBuilder.from_languages(*langs).build()


def detect_language(text: str, candidates: tuple[str, ...] = DETECT_LANGUAGES
                    ) -> tuple[str, float] | None:
    """(base language code, confidence) of a line of dialogue, or None when the line is too
    short (< 4 words) to tell."""
    if len(text.split()) < DETECT_MIN_WORDS:
        return None
    det = _detector(tuple(sorted({c.split("-")[0].lower() for c in candidates})))
    if det is None:
        return None
    values = det.compute_language_confidence_values(text)
    if not values:
        return None
    best = values[0]
    return best.language.iso_code_639_1.name.lower(), float(best.value)
