"""episodes/<nn>/storyboard.yaml: acts -> shots. The storyboard is the source of truth."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_serializer, model_validator

from .common import SCHEMA_VERSION, Identifier, LanguageCode, StudioModel
from .scene import Atmosphere, TimeOfDay


class CameraAngle(StrEnum):
    """The 12 framings."""

    extreme_wide = "extreme_wide"
    wide = "wide"
    full = "full"
    medium_wide = "medium_wide"
    medium = "medium"
    medium_close_up = "medium_close_up"
    close_up = "close_up"
    extreme_close_up = "extreme_close_up"
    over_the_shoulder = "over_the_shoulder"
    point_of_view = "point_of_view"
    high_angle = "high_angle"
    low_angle = "low_angle"


class Movement(StrEnum):
    """The 8 camera movements."""

    static = "static"
    pan = "pan"
    tilt = "tilt"
    dolly = "dolly"
    truck = "truck"
    crane = "crane"
    zoom = "zoom"
    handheld = "handheld"


class Direction(StrEnum):
    left = "left"
    right = "right"
    up = "up"
    down = "down"
    in_ = "in"
    out = "out"


_DIRECTIONS: dict[Movement, set[Direction]] = {
    Movement.static: set(),
    Movement.handheld: set(),
    Movement.pan: {Direction.left, Direction.right},
    Movement.truck: {Direction.left, Direction.right},
    Movement.tilt: {Direction.up, Direction.down},
    Movement.crane: {Direction.up, Direction.down},
    Movement.dolly: {Direction.in_, Direction.out},
    Movement.zoom: {Direction.in_, Direction.out},
}


class CameraMove(StudioModel):
    type: Movement = Movement.static
    direction: Direction | None = None
    speed: float = Field(0.5, ge=0, le=1, description="0 = imperceptible, 1 = fast")

    @model_validator(mode="after")
    def _direction_fits(self) -> CameraMove:
        allowed = _DIRECTIONS[self.type]
        if self.direction is None and allowed:
            self.__dict__["direction"] = sorted(allowed)[0]
        elif self.direction is not None and self.direction not in allowed:
            names = sorted(d.value for d in allowed) or ["none (leave direction out)"]
            raise ValueError(
                f"a {self.type.value} cannot move {self.direction.value}; use {', '.join(names)}"
            )
        return self


class Camera(StudioModel):
    angle: CameraAngle = CameraAngle.medium
    movement: CameraMove = Field(default_factory=CameraMove)
    subject: Identifier | None = Field(
        default=None, description="Character the shot frames (singles, OTS, POV)."
    )


class TransitionKind(StrEnum):
    cut = "cut"
    dissolve = "dissolve"
    fade = "fade"  # fade to black, then up from black
    dip_to_white = "dip_to_white"
    wipe = "wipe"
    match_cut = "match_cut"
    j_cut = "j_cut"  # next shot's audio leads its picture
    l_cut = "l_cut"  # this shot's audio trails into the next picture

    @property
    def default_duration_s(self) -> float:
        return {"cut": 0.0, "match_cut": 0.0, "dissolve": 1.0, "fade": 1.0,
                "dip_to_white": 0.5, "wipe": 0.75, "j_cut": 0.75, "l_cut": 0.75}[self.value]

    @property
    def touches_picture(self) -> bool:
        """True when frames either side of the edit must be re-rendered."""
        return self.value in {"dissolve", "fade", "dip_to_white", "wipe"}


class Transition(StudioModel):
    kind: TransitionKind = TransitionKind.cut
    duration_s: float | None = Field(
        default=None, ge=0, le=5,
        description="Picture overlap, or audio lead/trail for J/L-cuts. Default per kind.",
    )

    @property
    def seconds(self) -> float:
        return self.duration_s if self.duration_s is not None else self.kind.default_duration_s


class ShotGrade(StudioModel):
    """Per-shot grade on top of the scene match (Edit Suite): applied in the shot's LUT."""

    exposure: float = Field(0.0, ge=-3, le=3, description="Stops (+1 = twice the light).")
    temperature: float = Field(0.0, ge=-1, le=1, description="-1 cool (blue) .. +1 warm.")
    tint: float = Field(0.0, ge=-1, le=1, description="-1 green .. +1 magenta.")
    saturation: float = Field(1.0, ge=0, le=2, description="Chroma scale (1 = unchanged).")
    match_to: Identifier | None = Field(
        default=None, description="Match this shot's look instead of the scene reference.")
    lut: bool = Field(True, description="Apply the series .cube look (off: match only).")

    @property
    def is_neutral(self) -> bool:
        return self == ShotGrade()


class DialogueLine(StudioModel):
    character: Identifier
    text: str = Field(min_length=1)
    language: LanguageCode | None = Field(
        default=None, description="Defaults to the character's voice language."
    )
    parenthetical: str | None = None
    dual: bool = Field(False, description="Spoken over the previous line (dual dialogue).")
    translations: dict[LanguageCode, str] = Field(
        default_factory=dict, description="Dub lines: language -> translated text."
    )
    lyric: bool = Field(False, description="Sung, not spoken (Fountain '~' lyrics).")

    @model_serializer(mode="wrap")
    def _omit_default_lyric(self, handler):  # type: ignore[no-untyped-def]
        # left out when False: hashes and files of lines that are not lyrics stay as before
        data = handler(self)
        if isinstance(data, dict) and not data.get("lyric"):
            data.pop("lyric", None)
        return data


class CastMember(StudioModel):
    character: Identifier
    outfit: Identifier | None = Field(default=None, description="Overrides the wardrobe rule.")
    mark: Identifier | None = Field(default=None, description="Set mark the character stands on.")


class ShotSource(StudioModel):
    """Where an imported shot came from; lets re-import keep manual edits."""

    key: str = Field(description="Stable key of the script passage the shot covers.")
    field_hashes: dict[str, str] = Field(
        default_factory=dict, description="Hash of each field as imported; a differing "
        "current value means a person edited it."
    )


class Shot(StudioModel):
    id: Identifier
    scene: Identifier
    characters: list[CastMember] = Field(default_factory=list)
    action: str = ""
    dialogue: list[DialogueLine] = Field(default_factory=list)
    camera: Camera = Field(default_factory=Camera)
    duration_s: float = Field(4.0, gt=0, le=120)
    transition: Transition = Field(default_factory=Transition, description="To the next shot.")
    engine: str | None = Field(default=None, description="Engine preference (overrides routing).")
    seed: int | None = Field(default=None, ge=0)
    notes: str = ""
    time_of_day: TimeOfDay | None = Field(
        default=None, description="From the scene heading; overrides the scene's time of day "
        "(one location, lit for day or night)."
    )
    atmosphere: Atmosphere | None = Field(
        default=None, description="From the heading or action (fog, rain, snow, smoke, "
        "dust); overrides the scene's atmosphere for this shot.")
    source: ShotSource | None = None
    continue_from_previous: bool = Field(
        False, description="This shot continues the previous shot's last frame (sent to "
        "engines that take images as the first frame).")
    trim_in_s: float = Field(0.0, ge=0, description="Seconds cut from the head of the take "
                             "(the grade step cuts it; the paid request is unchanged).")
    trim_out_s: float = Field(0.0, ge=0, description="Seconds cut from the tail of the take.")
    grade: ShotGrade | None = Field(default=None, description="Per-shot grade (Edit Suite).")

    @model_validator(mode="after")
    def _trim_fits(self) -> Shot:
        if self.trim_in_s + self.trim_out_s >= self.duration_s:
            raise ValueError(
                f"shot {self.id}: trim in {self.trim_in_s:g}s + trim out {self.trim_out_s:g}s "
                f"leaves nothing of its {self.duration_s:g}s take; trim less")
        return self

    def for_engine(self) -> Shot:
        """The shot as engines see it: edit-only fields (trims, grade) left out, so trimming
        or grading a shot never changes (re-pays) its generation request."""
        if not (self.trim_in_s or self.trim_out_s or self.grade is not None):
            return self
        return self.model_copy(update={"trim_in_s": 0.0, "trim_out_s": 0.0, "grade": None})

    @model_serializer(mode="wrap")
    def _omit_default_continuity(self, handler):  # type: ignore[no-untyped-def]
        # left out when False: request hashes (what was paid for) and saved files of
        # storyboards that do not use it stay as they were before the field existed
        data = handler(self)
        if isinstance(data, dict) and not data.get("continue_from_previous"):
            data.pop("continue_from_previous", None)
        if isinstance(data, dict) and data.get("atmosphere", 0) is None:
            data.pop("atmosphere", None)  # unset: hashes of shots without it stay as before
        if isinstance(data, dict):  # edit-only fields, left out when unset (same hashes)
            for key in ("trim_in_s", "trim_out_s"):
                if not data.get(key, 1):
                    data.pop(key, None)
            if data.get("grade", 0) is None:
                data.pop("grade", None)
        return data

    @property
    def character_ids(self) -> list[str]:
        return [c.character for c in self.characters]


class ActKind(StrEnum):
    cold_open = "cold_open"
    act = "act"
    hook = "hook"  # end-of-episode hook / tag


class Act(StudioModel):
    id: Identifier
    title: str = ""
    kind: ActKind = ActKind.act
    synopsis: str = ""
    mood: str | None = Field(default=None, description="Music mood for the act's score.")
    target_avg_shot_s: float | None = Field(
        default=None, gt=0, description="Pacing: target average shot length of the act (s).")
    max_duration_s: float | None = Field(
        default=None, gt=0, description="Pacing: longest the act may run (s), e.g. a cold "
        "open or an end hook kept short.")
    shots: list[Shot] = Field(default_factory=list)


class Storyboard(StudioModel):
    schema_version: int = SCHEMA_VERSION
    episode: str = Field(pattern=r"^[0-9]{2,3}$", description="Episode number, e.g. '01'.")
    title: str = ""
    title_card: bool = True
    hook_card: str | None = Field(default=None, description="Text of the end-of-episode card.")
    target_avg_shot_s: float | None = Field(
        default=None, gt=0, description="Pacing: target average shot length of acts that "
        "set none.")
    acts: list[Act] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Storyboard:
        seen: set[str] = set()
        for act in self.acts:
            for shot in act.shots:
                if shot.id in seen:
                    raise ValueError(f"shot id {shot.id!r} appears twice; shot ids must be unique")
                seen.add(shot.id)
        shots = self.shots
        for i, shot in enumerate(shots):
            if shot.grade is not None and shot.grade.match_to is not None and \
                    shot.grade.match_to not in seen:
                raise ValueError(f"shot {shot.id}: grade.match_to {shot.grade.match_to!r} is "
                                 "not a shot of this episode")
            tr = shot.transition
            if tr.kind.touches_picture and i + 1 < len(shots):
                nxt = shots[i + 1]
                room = min(shot.duration_s - shot.trim_in_s - shot.trim_out_s,
                           nxt.duration_s - nxt.trim_in_s - nxt.trim_out_s)
                if tr.seconds > room + 1e-9:
                    raise ValueError(
                        f"shot {shot.id}: the {tr.kind.value} to {nxt.id} lasts "
                        f"{tr.seconds:g}s, longer than its shots ({room:g}s); shorten it")
        return self

    @property
    def shots(self) -> list[Shot]:
        return [s for a in self.acts for s in a.shots]

    def shot(self, shot_id: str) -> Shot:
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise KeyError(shot_id)

    def act_of(self, shot_id: str) -> Act:
        for a in self.acts:
            if any(s.id == shot_id for s in a.shots):
                return a
        raise KeyError(shot_id)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.shots)
