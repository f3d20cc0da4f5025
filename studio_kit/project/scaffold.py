"""A new series on disk: the folder layout and the default characters and scenes.

One place for what ``studio new``, the Project Builder (``builder.py``) and the screenplay
importer (``screenplay/importer.py``, ``--new``) create:

* ``require_empty_folder`` - a new series goes into a missing or empty folder;
* ``create_series_folder`` - ``series.yaml`` with ``characters/``, ``scenes/`` and
  ``episodes/`` (and optionally the first characters, scenes and storyboards);
* ``new_character`` - a character wearing one everyday outfit (top, trousers, shoes)
  with an eSpeak NG voice: the importer's placeholders and the builder's archetypes;
* ``new_scene`` - a scene with its key light, fill ratio and colour temperature.

The values (placeholder looks from a hash, archetypes, heading-derived light) stay with
the caller that knows them; the shapes of the files are decided here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from ..errors import StudioError
from ..models import (
    Appearance,
    Atmosphere,
    Character,
    Garment,
    GarmentKind,
    KeyLight,
    Lighting,
    Outfit,
    Scene,
    Series,
    SetMark,
    Storyboard,
    TimeOfDay,
    VoiceProfile,
    Wardrobe,
)
from ..store.yamlio import save_model
from .series_folder import SERIES_FILE

#: the sub-folders of every series
SERIES_DIRS = ("characters", "scenes", "episodes")
#: the garments of a default outfit, in the order of its colours
EVERYDAY_GARMENTS = (GarmentKind.top, GarmentKind.trousers, GarmentKind.shoes)


def require_empty_folder(folder: Path, *, ignore: Collection[str] = ()) -> None:
    """Raise unless ``folder`` is missing or empty (entries named in ``ignore`` allowed)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StudioError("not a folder", file=folder, hint="choose a new folder name")
    if folder.exists() and any(p.name not in ignore for p in folder.iterdir()):
        raise StudioError("folder is not empty", file=folder,
                          hint="choose a new folder name for the series")


def create_series_folder(root: Path, series: Series, *, characters: Iterable[Character] = (),
                         scenes: Iterable[Scene] = (),
                         storyboards: Iterable[Storyboard] = ()) -> Path:
    """Write a series' layout: the sub-folders, ``series.yaml``, then the given characters,
    scenes and storyboards (each file atomically). Returns the path of ``series.yaml``."""
    root = Path(root)
    for sub in SERIES_DIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    save_model(root / SERIES_FILE, series)
    for ch in characters:
        save_model(root / "characters" / f"{ch.id}.yaml", ch)
    for sc in scenes:
        save_model(root / "scenes" / f"{sc.id}.yaml", sc)
    for sb in storyboards:
        save_model(root / "episodes" / sb.episode / "storyboard.yaml", sb)
    return root / SERIES_FILE


def everyday_wardrobe(colours: Sequence[str], description: str) -> Wardrobe:
    """One ``default`` outfit: a top, trousers and shoes in ``colours`` (one per garment;
    fewer colours, fewer garments)."""
    garments = [Garment(name=kind.value, kind=kind, colours=[colour])
                for kind, colour in zip(EVERYDAY_GARMENTS, colours, strict=False)]
    return Wardrobe(default="default",
                    outfits={"default": Outfit(description=description, garments=garments)})


def new_character(cid: str, name: str, *, aliases: list[str], description: str,
                  appearance: Appearance, clothes: Sequence[str], outfit: str,
                  voice: str | None, language: str, pitch: int, rate: int,
                  traits: Sequence[str] = ()) -> Character:
    """A character in an everyday outfit (``everyday_wardrobe``) with an eSpeak NG voice."""
    return Character(
        id=cid, name=name, aliases=aliases, description=description, appearance=appearance,
        wardrobe=everyday_wardrobe(clothes, outfit),
        voice=VoiceProfile(engine="espeak", voice=voice, language=language, pitch=pitch,
                           rate=rate),
        traits=list(traits),
    )


def new_scene(sid: str, name: str, *, interior: bool, time_of_day: TimeOfDay, key: KeyLight,
              fill_ratio: float, colour_temperature_k: int, palette: list[str],
              ambience: list[str], atmosphere: Atmosphere | None = None,
              description: str = "", set_layout: Sequence[SetMark] = ()) -> Scene:
    """A scene lit by one key light (side, fill ratio, colour temperature)."""
    return Scene(
        id=sid, name=name, interior=interior, description=description, palette=palette,
        lighting=Lighting(key=key, fill_ratio=fill_ratio,
                          colour_temperature_k=colour_temperature_k),
        time_of_day=time_of_day, ambience=ambience,
        atmosphere=atmosphere if atmosphere is not None else Atmosphere(),
        set_layout=list(set_layout),
    )
