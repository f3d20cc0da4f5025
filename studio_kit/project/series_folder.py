"""A series on disk: load, validate (schema and cross-references), save atomically.

Layout (see docs/architecture.md)::

    series.yaml
    characters/<id>.yaml          characters/<id>/*.png  (reference images)
    scenes/<id>.yaml
    episodes/<nn>/script.fountain
    episodes/<nn>/storyboard.yaml
    .studio/vault/                 content-addressed assets and stage cache (not in git)
    .studio/ledger.sqlite          the production ledger (not in git)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Problem, ProblemList, StudioError, ValidationFailed
from ..models import Character, Scene, Series, Shot, Storyboard
from ..settings import settings
from ..store.hashing import is_digest, stable_hash
from ..store.ledger import Ledger
from ..store.vault import Vault
from ..store.yamlio import LineMap, line_for, load_yaml, save_model, validate_data
from ..store.yamlio import plain_data as _plain

SERIES_FILE = "series.yaml"
M = TypeVar("M", Character, Scene, Series)
#: extra folders (os.pathsep-separated, absolute) a project may name files in, e.g. a
#: shared asset library; by default every file a project names is inside its folder
ASSET_ROOTS_ENV = "STUDIO_ASSET_ROOTS"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def asset_roots(root: Path) -> list[Path]:
    """The folders a project's files may live in: the series folder, then the allow-listed
    roots of ``STUDIO_ASSET_ROOTS``."""
    extra = [Path(p).resolve() for p in settings().asset_roots.split(os.pathsep)
             if p.strip() and Path(p).is_absolute()]
    return [root.resolve(), *extra]


def project_file_problem(root: Path, name: str) -> tuple[str, str] | None:
    """Why the file ``name`` (as a project file writes it) may not be used, with a hint; None
    when it resolves (symlinks followed) inside the series folder or an allow-listed root.

    Absolute paths, ``..`` escapes and symlinks pointing out are all refused: a project is
    shared and rendered by others, and its files are uploaded to engines (LoRA training)."""
    roots = asset_roots(root)
    if "\x00" in name:
        return (f"{name!r} contains a NUL character", "write a plain relative path")
    p = Path(name)
    if p.is_absolute():
        inside = any(p.resolve().is_relative_to(r) for r in roots[1:])
        if not inside:
            return (f"{name!r} is an absolute path outside the series folder",
                    "copy the file into the series folder (e.g. characters/<id>/) and name it "
                    f"relative to it, or allow its folder with {ASSET_ROOTS_ENV}")
        return None
    target = (roots[0] / p).resolve()
    if any(target.is_relative_to(r) for r in roots):
        return None
    if ".." in p.parts:
        return (f"{name!r} leaves the series folder ('..')",
                "name files inside the series folder, relative to it")
    return (f"{name!r} is a symlink to {target}, outside the series folder",
            "replace the link by a copy of the file inside the series folder, or allow "
            f"its folder with {ASSET_ROOTS_ENV}")


def _check_unique_shot_ids(data: object, path: Path, lines: LineMap) -> None:
    """A shot id used twice in a storyboard, reported at the line of the second use (the
    Storyboard model rejects it too, but at model level, i.e. without a line)."""
    acts = data.get("acts") if isinstance(data, dict) else None
    seen: dict[str, tuple] = {}
    for ai, act in enumerate(acts if isinstance(acts, list) else []):
        shots = act.get("shots") if isinstance(act, dict) else None
        for si, shot in enumerate(shots if isinstance(shots, list) else []):
            sid = shot.get("id") if isinstance(shot, dict) else None
            if not isinstance(sid, str):
                continue
            loc = ("acts", ai, "shots", si, "id")
            if sid in seen:
                first = line_for(lines, seen[sid])
                raise ValidationFailed(
                    f"shot id {sid!r} appears twice (first at line {first}); shot ids must "
                    "be unique in an episode", file=path, line=line_for(lines, loc),
                    field=".".join(map(str, loc)),
                    hint=f"rename this shot (e.g. {sid}-b) or remove the duplicate")
            seen[sid] = loc


@dataclass
class Episode:
    id: str
    folder: Path
    storyboard: Storyboard | None
    lines: LineMap = field(default_factory=dict)

    @property
    def script_path(self) -> Path:
        return self.folder / "script.fountain"

    @property
    def storyboard_path(self) -> Path:
        return self.folder / "storyboard.yaml"


@dataclass
class Project:
    root: Path
    series: Series
    characters: dict[str, Character]
    scenes: dict[str, Scene]
    episodes: dict[str, Episode]
    _lines: dict[Path, LineMap] = field(default_factory=dict, repr=False)
    #: the bible and series as loaded/saved (plain dumps): the merge base of the next save,
    #: so a copy edited in place or a stale page cannot revert changes made on disk
    _saved: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._saved:
            self._saved["series"] = _plain(self.series)
            self._saved.update({f"character:{k}": _plain(v) for k, v in self.characters.items()})
            self._saved.update({f"scene:{k}": _plain(v) for k, v in self.scenes.items()})

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def load(cls, root: str | Path, *, check_references: bool = True) -> Project:
        """Load and validate every file; raise one ValidationFailed listing all problems."""
        root = Path(root).resolve()
        if root.name == SERIES_FILE and root.is_file():  # the file given for its folder
            root = root.parent
        if not (root / SERIES_FILE).is_file():
            raise ValidationFailed(
                f"no {SERIES_FILE} here; this is not a series folder",
                file=root,
                hint="run 'studio new <folder>' to create one, or pass the series folder",
            )
        problems = ProblemList()
        lines: dict[Path, LineMap] = {}

        def load(model, path: Path):
            try:
                data, lm = load_yaml(path)
                lines[path] = lm
                if model is Storyboard:  # before the model's check, which has no line
                    _check_unique_shot_ids(data, path, lm)
                return validate_data(model, data, path, lm)
            except StudioError as err:
                problems.extend(err)
                return None

        series = load(Series, root / SERIES_FILE)

        def load_folder(model, folder: str) -> dict:
            """Every ``<folder>/<id>.yaml``, by id; an id other than the file name is a
            problem (the file is still loaded)."""
            out = {}
            for path in sorted((root / folder).glob("*.yaml")):
                obj = load(model, path)
                if obj is not None:
                    if obj.id != path.stem:
                        problems.add(Problem(
                            str(path), f"id {obj.id!r} does not match the file name",
                            line_for(lines[path], ("id",)), "id",
                            f"rename the file to {obj.id}.yaml or set id: {path.stem}"))
                    out[obj.id] = obj
            return out

        characters: dict[str, Character] = load_folder(Character, "characters")
        scenes: dict[str, Scene] = load_folder(Scene, "scenes")
        episodes: dict[str, Episode] = {}
        for folder in sorted(p for p in (root / "episodes").glob("*") if p.is_dir()):
            sb_path = folder / "storyboard.yaml"
            sb = load(Storyboard, sb_path) if sb_path.exists() else None
            if sb is not None and sb.episode != folder.name:
                problems.add(Problem(str(sb_path), f"episode {sb.episode!r} does not match its "
                                     f"folder episodes/{folder.name}",
                                     line_for(lines.get(sb_path, {}), ("episode",)), "episode",
                                     f"set episode: '{folder.name}' or move the storyboard to "
                                     f"episodes/{sb.episode}/"))
            episodes[folder.name] = Episode(folder.name, folder, sb, lines.get(sb_path, {}))
        if series is None:
            problems.raise_if_any(f"{root}: the series does not validate")
        project = cls(root, series, characters, scenes, episodes, lines)
        if check_references:
            for p in project.reference_problems():
                problems.add(p)
        problems.raise_if_any(f"{root}: the series does not validate")
        return project

    def reference_problems(self) -> list[Problem]:
        """Cross-file checks: every id a storyboard or character names must exist."""
        out: list[Problem] = []

        def outside(path: Path, name: str, loc: tuple) -> bool:
            why = project_file_problem(self.root, name)
            if why is not None:
                out.append(Problem(str(path), why[0], line_for(self._lines.get(path, {}), loc),
                                   ".".join(map(str, loc)), why[1]))
            return why is not None

        spath = self.root / SERIES_FILE
        if self.series.look_lut:
            outside(spath, self.series.look_lut, ("look_lut",))
        for sc in self.scenes.values():
            ref = sc.reference_frame
            if ref and not is_digest(ref):
                outside(self.root / "scenes" / f"{sc.id}.yaml", ref, ("reference_frame",))
        for ch in self.characters.values():
            path = self.root / "characters" / f"{ch.id}.yaml"
            if ch.lora is not None and not _URL.match(ch.lora.uri) and ":" not in ch.lora.uri:
                outside(path, ch.lora.uri, ("lora", "uri"))
            for i, img in enumerate(ch.reference_images):
                if outside(path, img, ("reference_images", i)):
                    continue
                if not (self.root / img).is_file():
                    out.append(Problem(str(path), f"reference image {img!r} not found",
                                       line_for(self._lines.get(path, {}),
                                                ("reference_images", i)),
                                       f"reference_images.{i}",
                                       "put the image there (paths are relative to the series "
                                       "folder) or remove the entry"))
        for ep in self.episodes.values():
            if ep.storyboard is None:
                continue
            path = ep.storyboard_path
            for ai, act in enumerate(ep.storyboard.acts):
                for si, shot in enumerate(act.shots):
                    loc = ("acts", ai, "shots", si)
                    out.extend(self._shot_problems(path, ep.lines, loc, shot))
        return out

    def _shot_problems(self, path: Path, lines: LineMap, loc: tuple, shot: Shot) -> list[Problem]:
        out = []

        def add(sub: tuple, msg: str, hint: str) -> None:
            full = loc + sub
            out.append(Problem(str(path), f"shot {shot.id}: {msg}", line_for(lines, full),
                               ".".join(map(str, full)), hint))

        scene = self.scenes.get(shot.scene)
        if scene is None:
            add(("scene",), f"unknown scene {shot.scene!r}",
                f"known scenes: {', '.join(sorted(self.scenes)) or 'none'}; "
                f"or create scenes/{shot.scene}.yaml")
        for ci, member in enumerate(shot.characters):
            ch = self.characters.get(member.character)
            if ch is None:
                add(("characters", ci, "character"), f"unknown character {member.character!r}",
                    f"known characters: {', '.join(sorted(self.characters)) or 'none'}; or "
                    f"create characters/{member.character}.yaml")
                continue
            if member.outfit and member.outfit not in ch.wardrobe.outfits:
                add(("characters", ci, "outfit"), f"{ch.id} has no outfit {member.outfit!r}",
                    f"outfits: {', '.join(sorted(ch.wardrobe.outfits))}")
            if member.mark and scene and scene.mark(member.mark) is None:
                add(("characters", ci, "mark"), f"scene {scene.id} has no mark {member.mark!r}",
                    f"marks: {', '.join(m.name for m in scene.set_layout) or 'none'}")
        for di, line in enumerate(shot.dialogue):
            if line.character not in self.characters:
                add(("dialogue", di, "character"), f"unknown speaker {line.character!r}",
                    f"known characters: {', '.join(sorted(self.characters))}")
        if shot.camera.subject and shot.camera.subject not in self.characters:
            add(("camera", "subject"), f"unknown camera subject {shot.camera.subject!r}",
                "use a character id")
        return out

    # -- access ----------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """The file a project file names (``reference_images``, ``look_lut``...), resolved
        inside the series folder or an allow-listed asset root; StudioError otherwise."""
        why = project_file_problem(self.root, name)
        if why is not None:
            raise StudioError(why[0], file=self.root, hint=why[1])
        return (self.root / name).resolve()

    def episode(self, episode_id: str) -> Episode:
        key = episode_id.zfill(2) if episode_id.isdigit() else episode_id
        if key not in self.episodes:
            raise StudioError(f"no episode {episode_id!r}", file=self.root / "episodes",
                              hint=f"episodes: {', '.join(sorted(self.episodes)) or 'none'}")
        return self.episodes[key]

    def storyboard(self, episode_id: str) -> Storyboard:
        ep = self.episode(episode_id)
        if ep.storyboard is None:
            raise StudioError("episode has no storyboard yet", file=ep.storyboard_path,
                              hint=f"run 'studio import-script {self.root} {ep.script_path} "
                                   f"-e {ep.id}'")
        return ep.storyboard

    @property
    def studio_dir(self) -> Path:
        return self.root / ".studio"

    def vault(self) -> Vault:
        return Vault(self.studio_dir / "vault")

    def ledger(self) -> Ledger:
        return Ledger(self.studio_dir / "ledger.sqlite")

    # -- saving ----------------------------------------------------------------------
    # Each save edits the file in place (comments and layout kept) and merges, field by
    # field, changes made to it since this Project loaded it; an overlapping change is
    # refused (yamlio.save_model). The in-memory copy becomes what is on disk.
    def save_storyboard(self, storyboard: Storyboard) -> Path:
        path = self.root / "episodes" / storyboard.episode / "storyboard.yaml"
        ep = self.episodes.get(storyboard.episode)
        # a storyboard edited in place (the loaded object itself) has no merge base left
        base = ep.storyboard if ep and ep.storyboard is not storyboard else None
        saved = save_model(path, storyboard, base=base).model
        if ep is None:
            self.episodes[storyboard.episode] = Episode(storyboard.episode, path.parent,
                                                        saved)  # type: ignore[arg-type]
        else:
            ep.storyboard = saved  # type: ignore[assignment]
        return path

    def _save(self, key: str, path: Path, model: M) -> M:
        saved = save_model(path, model, base=self._saved.get(key)).model
        self._saved[key] = _plain(saved)
        return saved  # type: ignore[return-value]

    def save_character(self, character: Character) -> Path:
        path = self.root / "characters" / f"{character.id}.yaml"
        self.characters[character.id] = self._save(f"character:{character.id}", path,
                                                   character)
        return path

    def save_scene(self, scene: Scene) -> Path:
        path = self.root / "scenes" / f"{scene.id}.yaml"
        self.scenes[scene.id] = self._save(f"scene:{scene.id}", path, scene)
        return path

    def save_series(self, series: Series | None = None) -> Path:
        """Save ``series`` (default: ``self.series``), merged with changes made to the
        file since it was loaded."""
        path = self.root / SERIES_FILE
        self.series = self._save("series", path, series or self.series)
        return path

    # -- resolution for engines -------------------------------------------------------
    def resolve_shot(self, episode_id: str, shot_id: str):
        """A ShotSpec: the shot with its scene and characters (in their outfits) resolved."""
        from ..engines.base import ResolvedCharacter, ShotSpec

        sb = self.storyboard(episode_id)
        try:
            shot = sb.shot(shot_id)
        except KeyError:
            ids = [s.id for s in sb.shots]
            raise StudioError(f"no shot {shot_id!r} in episode {sb.episode}",
                              file=self.episode(episode_id).storyboard_path,
                              hint=f"shots: {', '.join(ids[:12]) or 'none'}"
                              + (f" ... ({len(ids)} in all)" if len(ids) > 12 else "")
                              ) from None
        scene = self.scenes.get(shot.scene)
        if scene is None:
            raise StudioError(f"shot {shot.id}: unknown scene {shot.scene!r}",
                              file=self.episode(episode_id).storyboard_path, field="scene",
                              hint=f"scenes: {', '.join(sorted(self.scenes)) or 'none'} "
                                   "(or add scenes/<id>.yaml)")
        resolved = []
        for member in shot.characters:
            ch = self.characters.get(member.character)
            if ch is None:
                raise StudioError(f"shot {shot.id}: unknown character {member.character!r}",
                                  file=self.episode(episode_id).storyboard_path,
                                  field="characters",
                                  hint="characters: "
                                       f"{', '.join(sorted(self.characters)) or 'none'} "
                                       "(or add characters/<id>.yaml)")
            outfit_id = member.outfit or ch.wardrobe.outfit_id_for(sb.episode, scene.id)
            resolved.append(ResolvedCharacter(character=ch, outfit_id=outfit_id,
                                              garments=ch.wardrobe.outfits[outfit_id].garments,
                                              mark=member.mark))
        bible = stable_hash([r.character for r in resolved], scene)
        # edit-only fields (trims, grade) are not part of the paid request
        return ShotSpec(episode=sb.episode, shot=shot.for_engine(), scene=scene,
                        characters=resolved,
                        bible_version=bible[:16])
