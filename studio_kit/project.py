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

from dataclasses import dataclass, field
from pathlib import Path

from .errors import Problem, ProblemList, StudioError, ValidationFailed
from .ledger import Ledger
from .models import Character, Scene, Series, Shot, Storyboard
from .vault import Vault
from .yamlio import LineMap, line_for, load_yaml, save_model, validate_data

SERIES_FILE = "series.yaml"


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
        characters: dict[str, Character] = {}
        for path in sorted((root / "characters").glob("*.yaml")):
            ch = load(Character, path)
            if ch is not None:
                if ch.id != path.stem:
                    problems.add(Problem(str(path), f"id {ch.id!r} does not match the file name",
                                         line_for(lines[path], ("id",)), "id",
                                         f"rename the file to {ch.id}.yaml or set id: {path.stem}"))
                characters[ch.id] = ch
        scenes: dict[str, Scene] = {}
        for path in sorted((root / "scenes").glob("*.yaml")):
            sc = load(Scene, path)
            if sc is not None:
                if sc.id != path.stem:
                    problems.add(Problem(str(path), f"id {sc.id!r} does not match the file name",
                                         line_for(lines[path], ("id",)), "id",
                                         f"rename the file to {sc.id}.yaml or set id: {path.stem}"))
                scenes[sc.id] = sc
        episodes: dict[str, Episode] = {}
        for folder in sorted(p for p in (root / "episodes").glob("*") if p.is_dir()):
            sb_path = folder / "storyboard.yaml"
            sb = load(Storyboard, sb_path) if sb_path.exists() else None
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
        for ch in self.characters.values():
            path = self.root / "characters" / f"{ch.id}.yaml"
            for i, img in enumerate(ch.reference_images):
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
        saved = save_model(path, storyboard, base=ep.storyboard if ep else None).model
        if ep is None:
            self.episodes[storyboard.episode] = Episode(storyboard.episode, path.parent,
                                                        saved)  # type: ignore[arg-type]
        else:
            ep.storyboard = saved  # type: ignore[assignment]
        return path

    def save_character(self, character: Character) -> Path:
        path = self.root / "characters" / f"{character.id}.yaml"
        base = self.characters.get(character.id)
        self.characters[character.id] = save_model(  # type: ignore[assignment]
            path, character, base=base).model
        return path

    def save_scene(self, scene: Scene) -> Path:
        path = self.root / "scenes" / f"{scene.id}.yaml"
        base = self.scenes.get(scene.id)
        self.scenes[scene.id] = save_model(path, scene, base=base).model  # type: ignore
        return path

    def save_series(self, series: Series | None = None) -> Path:
        """Save ``series`` (merged with changes on disk since load), or ``self.series``
        as it is now (no merge base: it may have been changed in place)."""
        path = self.root / SERIES_FILE
        if series is None:
            save_model(path, self.series)
        else:
            self.series = save_model(path, series, base=self.series).model  # type: ignore
        return path

    # -- resolution for engines -------------------------------------------------------
    def resolve_shot(self, episode_id: str, shot_id: str):
        """A ShotSpec: the shot with its scene and characters (in their outfits) resolved."""
        from .engines.base import ResolvedCharacter, ShotSpec
        from .hashing import stable_hash

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
                              file=self.episode(episode_id).storyboard_path, field="scene")
        resolved = []
        for member in shot.characters:
            ch = self.characters.get(member.character)
            if ch is None:
                raise StudioError(f"shot {shot.id}: unknown character {member.character!r}",
                                  file=self.episode(episode_id).storyboard_path,
                                  field="characters")
            outfit_id = member.outfit or ch.wardrobe.outfit_id_for(sb.episode, scene.id)
            resolved.append(ResolvedCharacter(character=ch, outfit_id=outfit_id,
                                              garments=ch.wardrobe.outfits[outfit_id].garments,
                                              mark=member.mark))
        bible = stable_hash([r.character for r in resolved], scene)
        return ShotSpec(episode=sb.episode, shot=shot, scene=scene, characters=resolved,
                        bible_version=bible[:16])
