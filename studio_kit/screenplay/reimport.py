"""Re-import: merge a freshly generated storyboard into the one on disk, keeping edits.

Every imported shot carries ``source = ShotSource(key, field_hashes)``: ``key`` names the
script passage (scene, role and a hash of the passage text) and ``field_hashes`` the hash
of each field *as imported*. On re-import:

1. old and new shots are aligned on their keys with difflib's SequenceMatcher (longest
   matching runs, so inserting or deleting a passage does not shift the others);
   a *replace* run pairs old and new shots position by position (an edited passage);
2. a paired shot keeps its id; for each tracked field, if the script's version did not
   change (new import hash == old import hash) the current value is kept - which keeps any
   manual edit - otherwise the field takes the script's new value (a manual edit of that
   field is overwritten and reported as a conflict);
3. untracked fields (engine, seed) are always kept; new passages become new shots with new
   ids; old shots whose passage is gone are dropped and reported;
4. shots without a source (added by hand) are kept, after the shot they followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..errors import StudioError
from ..models import Act, Shot, Storyboard
from .breakdown import TRACKED_FIELDS, field_hashes


@dataclass
class MergeResult:
    storyboard: Storyboard
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_manual: list[str] = field(default_factory=list)  # shots added by hand, kept
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (shot id, field)


def _merge_pair(old: Shot, new: Shot, res: MergeResult) -> Shot:
    assert old.source is not None and new.source is not None
    data = new.model_dump()
    old_data = old.model_dump()
    current_hashes = field_hashes(old)
    changed = False
    for name in TRACKED_FIELDS:
        imported_before = old.source.field_hashes.get(name)
        imported_now = new.source.field_hashes.get(name)
        current = current_hashes.get(name)
        if imported_now == imported_before:
            data[name] = old_data.get(name)  # script unchanged: keep (manual edits too)
        else:
            if imported_before is not None and current != imported_before:
                res.conflicts.append((old.id, name))
            if current != imported_now:
                changed = True
    data["id"] = old.id
    data["engine"] = old.engine
    data["seed"] = old.seed
    merged = Shot.model_validate(data)
    (res.updated if changed else res.unchanged).append(old.id)
    return merged


def _free_id(wanted: str, used: set[str]) -> str:
    if wanted not in used:
        return wanted
    for suffix in "bcdefghijklmnopqrstuvwxyz":
        if f"{wanted}{suffix}" not in used:
            return f"{wanted}{suffix}"
    n = 2
    while f"{wanted}-{n}" in used:
        n += 1
    return f"{wanted}-{n}"


def merge_storyboards(old: Storyboard, new: Storyboard) -> MergeResult:
    """Merge ``new`` (fresh import) into ``old`` (on disk); see the module docstring."""
    old_all = old.shots
    sourced = [s for s in old_all if s.source is not None]
    if old_all and not sourced:
        raise StudioError(
            f"episode {old.episode}'s storyboard was written by hand (no shot has an import "
            "source); importing would mix two breakdowns",
            file=f"episodes/{old.episode}/storyboard.yaml",
            hint="import into a new episode number, or move storyboard.yaml aside first",
        )
    res = MergeResult(storyboard=new)
    new_shots = new.shots
    a = [s.source.key for s in sourced]  # type: ignore[union-attr]
    b = [s.source.key for s in new_shots]  # type: ignore[union-attr]
    pairs: dict[int, Shot] = {}  # index in new_shots -> merged shot
    created_idx: list[int] = []
    sm = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag in ("equal", "replace"):
            n = min(i2 - i1, j2 - j1)
            for k in range(n):
                pairs[j1 + k] = _merge_pair(sourced[i1 + k], new_shots[j1 + k], res)
            res.removed.extend(s.id for s in sourced[i1 + n:i2])
            created_idx.extend(range(j1 + n, j2))
        elif tag == "insert":
            created_idx.extend(range(j1, j2))
        elif tag == "delete":
            res.removed.extend(s.id for s in sourced[i1:i2])
    used = {s.id for s in pairs.values()} | {s.id for s in old_all if s.source is None}
    for j in created_idx:
        shot = new_shots[j]
        new_id = _free_id(shot.id, used)
        used.add(new_id)
        pairs[j] = shot.model_copy(update={"id": new_id})
        res.created.append(new_id)

    # rebuild acts in the new order, keeping act-level edits (mood, pacing) by act id
    old_acts = {act.id: act for act in old.acts}
    acts: list[Act] = []
    j = 0
    for act in new.acts:
        shots = []
        for _ in act.shots:
            shots.append(pairs[j])
            j += 1
        before = old_acts.get(act.id)
        acts.append(act.model_copy(update={
            "shots": shots,
            "mood": before.mood if before else act.mood,
            "target_avg_shot_s": before.target_avg_shot_s if before else act.target_avg_shot_s,
            "synopsis": act.synopsis or (before.synopsis if before else ""),
        }))

    # shots added by hand: keep them after the shot they followed
    prev_id: str | None = None
    for shot in old_all:
        if shot.source is None:
            _insert_after(acts, prev_id, shot)
            res.kept_manual.append(shot.id)
        prev_id = shot.id if shot.id not in res.removed else prev_id
    res.storyboard = Storyboard(
        episode=new.episode,
        title=old.title or new.title,
        title_card=old.title_card,
        hook_card=old.hook_card,
        acts=acts,
    )
    return res


def _insert_after(acts: list[Act], anchor: str | None, shot: Shot) -> None:
    if not acts:
        return
    if anchor is not None:
        for act in acts:
            for i, s in enumerate(act.shots):
                if s.id == anchor:
                    act.shots.insert(i + 1, shot)
                    return
    acts[0].shots.insert(0, shot)
