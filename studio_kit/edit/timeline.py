"""The edit as data: a Timeline built from a Storyboard, clip paths and effective durations.

Everything is counted in frames at the delivery rate, so record times are exact and the
audio stage can place each shot's sound on the frame its picture starts
(:meth:`Timeline.shot_times`).

Ordering (the pacing elements of an episode):

1. acts of kind ``cold_open`` (in storyboard order),
2. the title card (``storyboard.title_card``),
3. every ``act``, each preceded by an act-break card showing its title,
4. acts of kind ``hook`` (the tag), then the hook card (``storyboard.hook_card``).

Picture transitions (dissolve, fade, dip to white, wipe) overlap the two items by the
transition's duration; cut, match cut, J-cut and L-cut are picture cuts (J/L move only the
audio: a J-cut starts the next shot's sound early, an L-cut lets this shot's sound run on).
A shot's ``transition`` applies to whatever follows it, card or shot. The last item's
transition closes the episode: a fade (``FADE OUT.``, ``FADE TO BLACK.``) or a dip to white
fades its last frames out to black (white) without overlapping anything, so the last frame
is black; any other kind is ignored there.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..models import ActKind, Storyboard, TransitionKind
from ..video_encoding import fps_fraction


class ItemKind(StrEnum):
    shot = "shot"
    title_card = "title_card"
    act_card = "act_card"
    hook_card = "hook_card"


#: Transitions that can close the episode (fade out to black / to white).
CLOSING_KINDS = (TransitionKind.fade, TransitionKind.dip_to_white)


class TransitionSpec(BaseModel):
    kind: TransitionKind = TransitionKind.cut
    frames: int = Field(0, ge=0, description="Picture overlap, or audio offset for J/L-cuts.")
    closing: bool = Field(False, description="The last item's fade out: its last ``frames`` "
                          "frames fade to black (white), overlapping nothing.")

    @property
    def overlaps(self) -> bool:
        return self.kind.touches_picture and self.frames > 0 and not self.closing

    @property
    def fades_out(self) -> bool:
        return self.closing and self.frames > 0


class TimelineItem(BaseModel):
    kind: ItemKind
    id: str
    act: str | None = None
    scene: str | None = None
    clip: str | None = Field(default=None, description="Picture file (shots; cards once rendered).")
    text: str | None = Field(default=None, description="Card text.")
    source_in: int = Field(0, ge=0, description="First frame of the clip used.")
    frames: int = Field(gt=0, description="Frames used from the clip.")
    transition: TransitionSpec = Field(default_factory=TransitionSpec, description="To the next item.")
    record_start: int = Field(0, description="First output frame (set by layout).")
    record_end: int = Field(0, description="One past the last output frame (set by layout).")
    audio_start: int = Field(0, description="Output frame where the item's sound starts.")
    audio_end: int = Field(0, description="Output frame where the item's sound ends.")


class ShotTime(BaseModel):
    """Where one item sits in the assembled picture, in seconds (exact frame times)."""

    id: str
    kind: ItemKind
    start_s: float = Field(description="First frame of the item's picture in the output.")
    end_s: float
    start_frame: int
    end_frame: int
    source_in_s: float = Field(description="Offset into the clip of its first used frame.")
    audio_start_s: float = Field(description="Sound start (earlier than start_s on a J-cut).")
    audio_end_s: float = Field(description="Sound end (later than end_s on an L-cut).")


class Timeline(BaseModel):
    episode: str
    title: str = ""
    fps_num: int = 24
    fps_den: int = 1
    width: int = 1280
    height: int = 720
    items: list[TimelineItem] = Field(default_factory=list)

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    def seconds(self, frames: int) -> float:
        return float(frames / self.fps)

    def frames_for(self, seconds: float) -> int:
        return round(Fraction(seconds).limit_denominator(100000) * self.fps)

    @property
    def total_frames(self) -> int:
        return self.items[-1].record_end if self.items else 0

    @property
    def duration_s(self) -> float:
        return self.seconds(self.total_frames)

    @property
    def shots(self) -> list[TimelineItem]:
        return [i for i in self.items if i.kind == ItemKind.shot]

    def layout(self) -> Timeline:
        """Clamp overlaps and compute record and audio times of every item (in place)."""
        n = len(self.items)
        for i, item in enumerate(self.items):
            tr = item.transition
            if i == n - 1:
                if tr.kind in CLOSING_KINDS:  # FADE OUT: to black over the last frames
                    item.transition = TransitionSpec(kind=tr.kind, closing=True,
                                                     frames=min(tr.frames, item.frames))
                else:
                    item.transition = TransitionSpec(kind=tr.kind, frames=0)
                continue
            if tr.closing:  # no longer last (items were added after it)
                tr = item.transition = TransitionSpec(kind=tr.kind, frames=tr.frames)
            if tr.kind.touches_picture:
                nxt = self.items[i + 1]
                limit = min(item.frames, nxt.frames) // 2
                if tr.frames > limit:
                    item.transition = TransitionSpec(kind=tr.kind, frames=limit)
        start = 0
        for i, item in enumerate(self.items):
            item.record_start = start
            item.record_end = start + item.frames
            prev = self.items[i - 1].transition if i else None
            item.audio_start = start - (prev.frames if prev and prev.kind ==
                                        TransitionKind.j_cut else 0)
            item.audio_start = max(0, item.audio_start)
            tr = item.transition
            item.audio_end = item.record_end + (tr.frames if tr.kind == TransitionKind.l_cut
                                                else 0)
            start = item.record_end - (tr.frames if tr.overlaps else 0)
        total = self.total_frames
        for item in self.items:
            item.audio_end = min(item.audio_end, total)
        return self

    def shot_times(self) -> dict[str, ShotTime]:
        """Record times of every item (shots and cards) by id, for the audio stage."""
        return {
            i.id: ShotTime(
                id=i.id, kind=i.kind, start_s=self.seconds(i.record_start),
                end_s=self.seconds(i.record_end), start_frame=i.record_start,
                end_frame=i.record_end, source_in_s=self.seconds(i.source_in),
                audio_start_s=self.seconds(i.audio_start), audio_end_s=self.seconds(i.audio_end))
            for i in self.items
        }

    def item(self, item_id: str) -> TimelineItem:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)


def title_card_text(series_title: str, episode_title: str) -> str:
    """The series title over the episode title, each once: an episode titled like its
    series (a script's title page names both the same) shows one line, not "Big Fish /
    Big Fish" (compared ignoring case, spacing and punctuation)."""
    def norm(t: str) -> str:
        return " ".join("".join(c for c in t.casefold() if c.isalnum() or c.isspace()).split())

    lines: list[str] = []
    for t in (series_title.strip(), episode_title.strip()):
        if t and norm(t) not in {norm(x) for x in lines}:
            lines.append(t)
    return "\n".join(lines)


def timeline_from_storyboard(
    storyboard: Storyboard,
    clips: Mapping[str, str | Path] | None = None,
    *,
    durations: Mapping[str, float] | None = None,
    fps: float | Fraction = 24,
    width: int = 1280,
    height: int = 720,
    series_title: str = "",
    title_card_s: float = 3.0,
    act_card_s: float = 2.0,
    hook_card_s: float = 3.0,
    act_cards: bool = True,
) -> Timeline:
    """Build and lay out the episode's timeline.

    ``clips``: shot id -> picture file (shots without one keep ``clip=None``, e.g. for an
    OTIO export before rendering). ``durations``: shot id -> effective seconds (e.g. the
    dialogue's length) overriding the storyboard's ``duration_s``.
    """
    clips = dict(clips or {})
    durations = dict(durations or {})
    fr = fps_fraction(fps)
    tl = Timeline(episode=storyboard.episode, title=storyboard.title, fps_num=fr.numerator,
                  fps_den=fr.denominator, width=width, height=height)
    unknown = set(clips) - {s.id for s in storyboard.shots}
    if unknown:
        raise StudioError(f"clips given for shots not in the storyboard: {sorted(unknown)}",
                          field="clips", hint="check the shot ids")

    def card(kind: ItemKind, cid: str, text: str, seconds: float) -> None:
        tl.items.append(TimelineItem(kind=kind, id=cid, text=text,
                                     frames=max(1, tl.frames_for(seconds))))

    def acts(kind: ActKind, with_cards: bool) -> None:
        for act in storyboard.acts:
            if act.kind != kind:
                continue
            if with_cards and act_cards and act.title and act.shots:
                card(ItemKind.act_card, f"card-{act.id}", act.title, act_card_s)
            for shot in act.shots:
                seconds = durations.get(shot.id, shot.duration_s)
                if seconds <= 0:
                    raise StudioError(f"shot {shot.id}: effective duration {seconds:g}s",
                                      field="durations", hint="durations must be positive")
                tr = shot.transition
                tl.items.append(TimelineItem(
                    kind=ItemKind.shot, id=shot.id, act=act.id, scene=shot.scene,
                    clip=str(clips[shot.id]) if shot.id in clips else None,
                    frames=max(1, tl.frames_for(seconds)),
                    transition=TransitionSpec(kind=tr.kind, frames=tl.frames_for(tr.seconds))))

    acts(ActKind.cold_open, with_cards=False)
    if storyboard.title_card:
        text = title_card_text(series_title, storyboard.title) or \
            f"Episode {storyboard.episode}"
        card(ItemKind.title_card, "card-title", text, title_card_s)
    acts(ActKind.act, with_cards=True)
    acts(ActKind.hook, with_cards=False)
    if storyboard.hook_card:
        card(ItemKind.hook_card, "card-hook", storyboard.hook_card, hook_card_s)
    if not tl.items:
        raise StudioError(f"episode {storyboard.episode} has no shots", field="acts",
                          hint="add shots to the storyboard")
    return tl.layout()
