"""What the local engine reads from the script beyond the set: the shot's time of day and
atmosphere, the action's staging (gestures, walks, a freeze, camera details) and, for a
scene with no props, a set dressed from its location and description.

Everything here is deterministic: the action's words pick what happens (a walk, a raised
arm, a freeze) and the action's hash picks the details (which arm, how far, the camera's
small offsets), so editing a shot's action changes its clip and the same action renders
the same frames. An empty action keeps the plain staging (no offsets at all).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from ...models import Atmosphere, AtmosphereKind, Scene, Shot, TimeOfDay

#: Words in a shot's action (or a scene's description) that bring an atmosphere, with the
#: density they imply; the first match wins, in this order.
_ATMOSPHERE_WORDS: list[tuple[str, AtmosphereKind, float]] = [
    (r"\b(fog|fogs|foggy|fogbound|fog-bound|mist|mists|misty|pea[- ]souper)\b",
     AtmosphereKind.fog, 0.7),
    (r"\b(snow|snows|snowing|snowfall|blizzard|snowflakes?)\b", AtmosphereKind.snow, 0.6),
    (r"\b(rain|rains|raining|rainy|downpour|drizzle|storm|storms|stormy|squall)\b",
     AtmosphereKind.rain, 0.7),
    (r"\b(smoke|smoky|smoking ruins|fumes)\b", AtmosphereKind.smoke, 0.5),
    (r"\b(dust|dusty|sandstorm)\b", AtmosphereKind.dust, 0.5),
    (r"\b(haze|hazy|murk|murky)\b", AtmosphereKind.haze, 0.6),
]

_WALK = re.compile(r"\b(walks?|walking|cross(es|ing)?|paces?|pacing|enters?|entering|"
                   r"strides?|heads?\s+(for|to|toward)|steps?\s+(forward|in|out|toward)|"
                   r"approach(es)?|wanders?|limps?|staggers?)\b", re.I)
_RUN = re.compile(r"\b(runs?|running|races?|dash(es)?|sprints?|hurries|hurry|rushes|"
                  r"flees?|chases?)\b", re.I)
_RAISE = re.compile(r"\b(raises?|waves?|waving|points?|pointing|reach(es)?|lifts?|"
                    r"grabs?|holds?\s+up|gestures?|salutes?|signals?|beckons?|hails?)\b",
                    re.I)
_FREEZE = re.compile(r"\b(freezes?|froze|frozen|motionless|stock[- ]still|stands? still|"
                     r"stops? dead|petrified|rooted)\b", re.I)


def action_seed(action: str) -> int | None:
    """The action's hash (None for an empty action: plain staging)."""
    text = " ".join(action.split())
    return zlib.crc32(text.encode()) if text else None


def shot_time_of_day(shot: Shot, scene: Scene) -> TimeOfDay:
    """The shot's own time of day (from its heading), else its scene's."""
    return shot.time_of_day or scene.time_of_day


def atmosphere_from_text(text: str) -> Atmosphere | None:
    for rx, kind, dens in _ATMOSPHERE_WORDS:
        if re.search(rx, text, re.I):
            return Atmosphere(kind=kind, density=dens)
    return None


def shot_atmosphere(shot: Shot, scene: Scene) -> Atmosphere:
    """A shot's own atmosphere (when the storyboard gives one), else its scene's when it has
    one, else what the shot's action or the scene's description says (fog rolls in)."""
    own = getattr(shot, "atmosphere", None)
    if isinstance(own, Atmosphere):
        return own
    atm = scene.atmosphere
    if atm.kind != AtmosphereKind.clear and atm.density > 0:
        return atm
    return atmosphere_from_text(shot.action) or atmosphere_from_text(scene.description) or atm


@dataclass(frozen=True)
class Pose:
    """A figure's staging for the shot (all zero for an empty action)."""

    arm_left: float = 0.0  # radians out from hanging straight down (pi = straight up)
    arm_right: float = 0.0
    walk: float = 0.0  # metres per second across the set (+ = frame right)
    still: bool = False  # frozen: no idle sway
    dx: float = 0.0  # offset on the mark (m)
    dz: float = 0.0


def names_in(action: str, names: list[str]) -> bool:
    """Whether the action names someone by one of ``names`` (id, name, aliases)."""
    return any(re.search(rf"\b{re.escape(n)}\b", action, re.I) for n in names if n.strip())


def pose_for(action: str, character_id: str, index: int, duration: float,
             frame_width_m: float, *, acts: bool = True) -> Pose:
    """The staging of one figure; ``frame_width_m``: about how many metres the shot's
    framing shows across (a walk stays within a quarter of it). ``acts``: the action's
    verbs are this figure's (False when the action names other people of the shot but not
    this one: "Ana walks to the window" walks Ana only)."""
    seed = action_seed(action)
    if seed is None:
        return Pose()
    rng = np.random.default_rng([seed, zlib.crc32(character_id.encode()), index])
    arms = rng.uniform(0.04, 0.4, 2)
    raise_arm = int(rng.integers(2))
    if acts and _RAISE.search(action):
        arms[raise_arm] = rng.uniform(1.3, 2.7)
    walk = 0.0
    run, walks = _RUN.search(action), _WALK.search(action)
    if acts and (run or walks):
        speed = 2.5 if run else 0.9
        reach = min(2.4, 0.25 * frame_width_m)  # stay in the frame for the shot
        walk = float(np.sign(rng.uniform(-1, 1)) * min(speed, reach / max(duration, 0.1)))
    return Pose(arm_left=float(arms[0]), arm_right=float(arms[1]), walk=walk,
                still=acts and bool(_FREEZE.search(action)),
                dx=float(rng.uniform(-0.25, 0.25)), dz=float(rng.uniform(-0.4, 0.4)))


def camera_offsets(action: str) -> tuple[float, float, float]:
    """(horizontal and vertical offset as fractions of the frame, focal scale) the action's
    hash adds: the small differences of framing between two takes of the same set-up,
    small enough to keep any angle's framing (a close-up keeps its face in frame)."""
    seed = action_seed(action)
    if seed is None:
        return 0.0, 0.0, 1.0
    rng = np.random.default_rng([seed, 7])
    return (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.02, 0.02)),
            float(rng.uniform(0.96, 1.04)))


# -- set dressing for a scene without props ----------------------------------------------

@dataclass(frozen=True)
class Dressing:
    kind: str
    x: float  # set x 0..1
    depth: float  # set depth 0..1
    size: float
    colour: str


#: (location/description words, exterior?, props: kind, colour, size)
_SETS: list[tuple[str, bool, list[tuple[str, str, float]]]] = [
    (r"sea|ocean|harbou?r|beach|coast|shore|dock|pier|bay|port|quay|wharf|lighthouse|cliff"
     r"|boat|ship|island", True,
     [("lighthouse", "#d8d2c4", 1.0), ("boat", "#6a3b22", 1.2), ("rock", "#5a5650", 1.1),
      ("post", "#4a3a2a", 1.0), ("rock", "#6a645a", 0.8)]),
    (r"street|city|road|town|avenue|alley|square|downtown|parking|village|market", True,
     [("building", "#7a6f66", 1.6), ("building", "#8b7d6e", 1.3), ("streetlamp", "#2e2e32", 1.0),
      ("building", "#5f6670", 1.8), ("bench", "#5a4030", 1.0)]),
    (r"forest|woods|wood|park|garden|field|farm|jungle|clearing|orchard|meadow|hill|"
     r"mountain|camp", True,
     [("tree", "#3f5a2e", 1.3), ("tree", "#4a6a35", 1.0), ("bush", "#3d5530", 0.9),
      ("tree", "#35502a", 1.5), ("rock", "#6a645a", 0.8)]),
    (r"kitchen|diner|cafe|bar|pub|restaurant|canteen|galley", False,
     [("counter", "#8a6a4a", 1.2), ("window", "#d8d0c0", 1.0), ("table", "#7a5230", 1.0),
      ("chair", "#6a4a30", 1.0), ("lamp", "#f0d8a0", 0.8)]),
    (r"bedroom|bed|cabin|hotel|room|motel|ward|hospital", False,
     [("bed", "#c8c0b0", 1.0), ("window", "#d8d0c0", 1.0), ("lamp", "#f0d8a0", 0.8),
      ("door", "#6a4a32", 1.0), ("chair", "#6a4a30", 1.0)]),
    (r"office|study|library|school|classroom|bank|station|precinct|lab", False,
     [("desk", "#6a5038", 1.0), ("shelf", "#5a4030", 1.0), ("window", "#d8d0c0", 1.0),
      ("chair", "#3a3a40", 1.0), ("lamp", "#f0d8a0", 0.8)]),
]
_DEFAULT_EXTERIOR = [("tree", "#3f5a2e", 1.2), ("building", "#7a6f66", 1.3),
                     ("rock", "#6a645a", 0.9), ("bush", "#3d5530", 0.8), ("post", "#4a3a2a", 1.0)]
_DEFAULT_INTERIOR = [("window", "#d8d0c0", 1.0), ("door", "#6a4a32", 1.0),
                     ("table", "#7a5230", 1.0), ("chair", "#6a4a30", 1.0),
                     ("lamp", "#f0d8a0", 0.8)]


def set_dressing(scene: Scene) -> list[Dressing]:
    """Props for a scene whose layout has none, from its location name and description
    (a harbour gets a lighthouse and a boat, a street buildings, a kitchen a counter),
    placed from the scene id's hash away from the centre where people stand."""
    text = f"{scene.name} {scene.description}".lower()
    props = next((p for rx, ext, p in _SETS if ext == (not scene.interior)
                  and re.search(rf"\b({rx})\b", text)), None)
    if props is None:
        props = _DEFAULT_INTERIOR if scene.interior else _DEFAULT_EXTERIOR
    rng = np.random.default_rng([zlib.crc32(scene.id.encode()), 3])
    # five slots across the set, the middle one kept back (people stand centre front)
    slots = [(0.1, 0.85), (0.3, 0.95), (0.62, 1.0), (0.82, 0.8), (0.95, 0.6)]
    order = rng.permutation(len(slots))
    out = []
    for (kind, colour, size), k in zip(props, order, strict=False):
        x, depth = slots[int(k)]
        if not scene.interior or kind not in ("window", "door", "shelf", "counter"):
            x = float(np.clip(x + rng.uniform(-0.05, 0.05), 0.02, 0.98))
        if scene.interior and kind in ("window", "door", "shelf", "counter"):
            depth = 1.0  # against the back wall
        out.append(Dressing(kind, x, float(depth), float(size * rng.uniform(0.9, 1.1)), colour))
    return out
