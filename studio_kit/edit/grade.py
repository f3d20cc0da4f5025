"""Grading: match each shot to its scene's reference look, then apply the series look.

Colour transfer is Reinhard-style: shift and scale each channel's mean and standard
deviation in CIELAB (a perceptual space) from the shot's statistics to the reference's.
That transfer is a function of the pixel's RGB alone, so it is baked, together with the
series look, into ONE 3D LUT per shot (colour-science ``LUT3D``, written as .cube) and
applied by ffmpeg's ``lut3d`` filter in the single re-encode of the shot, with the
canonical H.264 parameters (and keyframes where the assembler wants them). The assembler
can then stream-copy the graded clip.

The reference look of a scene is its ``reference_frame`` image when set, otherwise the
first shot of that scene in the episode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..colorimetry import colour_science
from ..errors import StudioError
from ..models import ShotGrade
from ..video_encoding import H264_PARAMS, fps_fraction, h264_args
from .frames import run_ffmpeg
from .probe import probe

_SPACE = "ITU-R BT.709"


class LabStats(BaseModel):
    """Per-channel mean and standard deviation of L*, a*, b*."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class GradeResult(BaseModel):
    shot: str
    source: str
    output: str
    lut: str = Field(description="The .cube applied (transfer + series look).")
    before: LabStats
    reference: LabStats


# -- colour maths --------------------------------------------------------------------------


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Encoded BT.709 RGB in 0..1 (..., 3) -> CIELAB (D65)."""
    colour = colour_science()
    space = colour.RGB_COLOURSPACES[_SPACE]
    xyz = colour.RGB_to_XYZ(rgb, space, apply_cctf_decoding=True)
    return colour.XYZ_to_Lab(xyz, space.whitepoint)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    colour = colour_science()
    space = colour.RGB_COLOURSPACES[_SPACE]
    xyz = colour.Lab_to_XYZ(lab, space.whitepoint)
    lin = colour.XYZ_to_RGB(xyz, space, apply_cctf_encoding=False)
    return space.cctf_encoding(np.clip(lin, 0, 1))


def measure_rgb(rgb: np.ndarray) -> LabStats:
    """Lab statistics of RGB pixels (uint8 or float 0..1), any shape ending in 3."""
    arr = np.asarray(rgb)
    arr = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    lab = rgb_to_lab(arr.reshape(-1, 3))
    return LabStats(mean=tuple(float(x) for x in lab.mean(axis=0)),
                    std=tuple(float(x) for x in lab.std(axis=0)))


def sample_frames(path: str | Path, samples: int = 5, width: int = 160) -> np.ndarray:
    """``samples`` evenly spaced frames of a clip as small RGB arrays (BT.709 decode)."""
    import av

    info = probe(path).video
    n = max(1, info.frames)
    wanted = sorted({round(i * (n - 1) / max(1, samples - 1)) for i in range(samples)})
    height = max(2, round(width * (info.height or 9) / (info.width or 16)) // 2 * 2)
    out = []
    with av.open(str(path)) as container:
        for idx, frame in enumerate(container.decode(video=0)):
            if idx in wanted:
                out.append(frame.reformat(width=width, height=height, format="rgb24",
                                          src_colorspace="ITU709", dst_colorspace="ITU709",
                                          src_color_range="MPEG",
                                          dst_color_range="JPEG").to_ndarray())
            if idx >= wanted[-1]:
                break
    if not out:
        raise StudioError("no frames could be decoded", file=path, hint="is the clip empty?")
    return np.stack(out)


def measure_clip(path: str | Path, samples: int = 5, width: int = 160) -> LabStats:
    return measure_rgb(sample_frames(path, samples, width))


def measure_image(path: str | Path) -> LabStats:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return measure_rgb(np.asarray(img.convert("RGB").resize((160, 90))))
    except (OSError, ValueError) as exc:
        raise StudioError(f"cannot read the reference image: {exc}", file=path,
                          hint="use a PNG or JPEG frame") from exc


# -- LUTs ----------------------------------------------------------------------------------


def identity_lut(size: int = 33, name: str = "identity"):
    colour = colour_science()
    return colour.LUT3D(colour.LUT3D.linear_table(size), name=name)


def make_look(*, name: str = "series look", size: int = 33, saturation: float = 1.0,
              contrast: float = 1.0, warmth: float = 0.0, lift: float = 0.0):
    """A simple parametric series look as a LUT3D (edit it in any grading tool later).

    ``warmth`` > 0 pushes b* (yellow) and a* (red) slightly; ``contrast`` scales L* about
    50; ``saturation`` scales chroma; ``lift`` raises L* in the shadows.
    """
    lut = identity_lut(size, name)
    lab = rgb_to_lab(lut.table.reshape(-1, 3))
    lab[:, 0] = 50 + (lab[:, 0] - 50) * contrast
    lab[:, 0] += lift * (100 - lab[:, 0]) * 0.2
    lab[:, 1:] *= saturation
    lab[:, 1] += 2.0 * warmth
    lab[:, 2] += 8.0 * warmth
    lut.table = lab_to_rgb(lab).reshape(lut.table.shape)
    return lut


def adjust_rgb(rgb: np.ndarray, adjust: ShotGrade | None) -> np.ndarray:
    """The per-shot grade controls on encoded BT.709 RGB 0..1 (..., 3): exposure in stops
    (on linear light), temperature (b*: blue/yellow), tint (a*: green/magenta),
    saturation (chroma scale), in that order."""
    if adjust is None or adjust.is_neutral or (
            adjust.exposure == 0 and adjust.temperature == 0 and adjust.tint == 0
            and adjust.saturation == 1):
        return rgb
    colour = colour_science()
    space = colour.RGB_COLOURSPACES[_SPACE]
    shape = rgb.shape
    flat = np.clip(rgb.reshape(-1, 3), 0, 1)
    if adjust.exposure:
        lin = space.cctf_decoding(flat) * 2.0 ** adjust.exposure
        flat = space.cctf_encoding(np.clip(lin, 0, 1))
    if adjust.temperature or adjust.tint or adjust.saturation != 1:
        lab = rgb_to_lab(flat)
        lab[:, 1:] *= adjust.saturation
        lab[:, 1] += 20.0 * adjust.tint
        lab[:, 2] += 30.0 * adjust.temperature
        flat = lab_to_rgb(lab)
    return np.clip(flat, 0, 1).reshape(shape)


def transfer_lut(source: LabStats, reference: LabStats, *, strength: float = 1.0,
                 size: int = 33, look=None, max_gain: float = 2.0,
                 name: str = "shot grade", adjust: ShotGrade | None = None):
    """A LUT3D mapping the shot's colours onto the reference look, then the series look.

    ``strength`` 0..1 blends from no change to the full transfer; ``max_gain`` bounds the
    std ratio so a flat shot is not blown up. ``adjust``: the shot's own grade controls
    (after the match, before the series look; ``adjust.lut`` False leaves the look out).
    """
    lut = identity_lut(size, name)
    lab = rgb_to_lab(lut.table.reshape(-1, 3))
    mu_s, sd_s = np.array(source.mean), np.array(source.std)
    mu_r, sd_r = np.array(reference.mean), np.array(reference.std)
    gain = np.clip(sd_r / np.maximum(sd_s, 1e-6), 1 / max_gain, max_gain)
    moved = (lab - mu_s) * gain + mu_r
    lab = lab + strength * (moved - lab)
    lab[:, 0] = np.clip(lab[:, 0], 0, 100)
    rgb = adjust_rgb(np.clip(lab_to_rgb(lab), 0, 1), adjust)
    if look is not None and (adjust is None or adjust.lut):
        rgb = np.clip(look.apply(rgb), 0, 1)
    lut.table = rgb.reshape(lut.table.shape)
    return lut


def read_lut(path: str | Path):
    """Read a .cube (or any format colour-science knows) as a LUT3D."""
    colour = colour_science()
    path = Path(path)
    if not path.is_file():
        raise StudioError("LUT file not found", file=path, field="look_lut",
                          hint="series.yaml look_lut is relative to the series folder")
    try:
        lut = colour.read_LUT(str(path))
    except Exception as exc:  # colour raises bare ValueError/IndexError on malformed files
        raise StudioError(f"cannot read the LUT: {exc}", file=path,
                          hint="write a 3D .cube (LUT_3D_SIZE n, then n^3 'r g b' lines)") from exc
    if not isinstance(lut, colour.LUT3D):
        if isinstance(lut, colour.LUTSequence) or not hasattr(lut, "table"):
            raise StudioError("the LUT is not a 3D LUT", file=path, hint="use a 3D .cube")
        lut = lut.convert(colour.LUT3D, size=33) if hasattr(lut, "convert") else \
            colour.io.LUT_to_LUT(lut, colour.LUT3D, size=33)
    return lut


def write_lut(lut, path: str | Path) -> Path:
    """Write a LUT3D as a .cube atomically."""
    import tempfile

    colour = colour_science()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=".cube",
                                     delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        colour.write_LUT(lut, str(tmp_path), decimals=6)
        tmp_path.replace(path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def lut3d_filter(cube: str | Path) -> str:
    """ffmpeg filter chain: Y'CbCr (BT.709, limited) -> RGB -> lut3d -> back to Y'CbCr."""
    p = H264_PARAMS
    escaped = str(Path(cube).resolve()).replace("\\", "\\\\").replace(":", "\\:").replace(
        "'", "\\'")
    return (f"scale=in_color_matrix={p.colorspace}:in_range={p.color_range},format=rgb48le,"
            f"lut3d=file='{escaped}':interp=tetrahedral,"
            f"scale=out_color_matrix={p.colorspace}:out_range={p.color_range},"
            f"format={p.pix_fmt}")


# -- applying ------------------------------------------------------------------------------


def trim_filter(info, trim: tuple[float, float]) -> str:
    """ffmpeg ``trim`` for a shot's in/out (seconds cut from head and tail), whole frames;
    "" when nothing is cut. A trim that leaves no frame is a StudioError."""
    head_s, tail_s = trim
    if not head_s and not tail_s:
        return ""
    fps = fps_fraction(info.fps or 24)
    n = info.frames
    first = round(head_s * fps)
    end = n - round(tail_s * fps)
    if head_s < 0 or tail_s < 0 or end <= first:
        raise StudioError(f"trim in {head_s:g}s / out {tail_s:g}s leaves nothing of the "
                          f"{n}-frame take", field="trim_in_s/trim_out_s", hint="trim less")
    return f"trim=start_frame={first}:end_frame={end},setpts=PTS-STARTPTS,"


def grade_clip(src: str | Path, dst: str | Path, lut, *,
               force_keyframes_s: Sequence[float] = (),
               trim: tuple[float, float] = (0.0, 0.0)) -> Path:
    """Re-encode ``src`` once through ``lut`` (LUT3D or .cube path) with the canonical
    parameters; ``force_keyframes_s`` adds keyframes (see ``assemble.keyframe_times``,
    times in the trimmed clip); ``trim`` cuts (head, tail) seconds of the take in the same
    encode (the Edit Suite's trim in/out: the take, what was paid for, is unchanged)."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cube = Path(lut) if isinstance(lut, str | Path) else write_lut(
        lut, dst.with_name(dst.stem + ".cube"))
    info = probe(src, packets=False).video
    fps = fps_fraction(info.fps or 24)
    part = dst.with_name(f".{dst.name}.part.mp4")
    vf = trim_filter(probe(src).video, trim) + lut3d_filter(cube)
    run_ffmpeg(["-i", str(src), "-map", "0:v:0", "-an", "-vf", vf,
                *h264_args(fps, force_keyframes_s=force_keyframes_s), str(part)],
               what=f"grade {src.name}", file=src)
    part.replace(dst)
    return dst


def scene_references(
    shots: Sequence[tuple[str, str, str | Path]],
    reference_images: Mapping[str, str | Path] | None = None,
) -> dict[str, LabStats]:
    """Reference look per scene: its reference image if given, else its first shot's clip.

    ``shots``: (shot id, scene id, clip path) in episode order.
    """
    refs: dict[str, LabStats] = {}
    for scene, img in (reference_images or {}).items():
        refs[scene] = measure_image(img)
    for _shot, scene, clip in shots:
        if scene not in refs:
            refs[scene] = measure_clip(clip)
    return refs


def grade_shot(src: str | Path, dst: str | Path, reference: LabStats, *,
               cube: str | Path | None = None, look=None, strength: float = 1.0,
               keyframes: Sequence[float] = (), lut_size: int = 33,
               name: str = "shot grade", adjust: ShotGrade | None = None,
               trim: tuple[float, float] = (0.0, 0.0)) -> LabStats:
    """Grade one clip to ``reference`` and the series ``look`` (a LUT3D) in its single
    re-encode: measure the clip, write its .cube (``cube``, default ``dst`` with the suffix
    .cube), encode ``dst``. Returns the clip's statistics before grading. ``adjust``:
    the shot's grade controls; ``trim``: (head, tail) seconds of the take cut here.

    Not cached here: the pipeline's stage runner caches each shot's grade (``grade`` stage
    in ``pipeline/stages/shots.py``, keyed by clip, reference, look and keyframes).
    """
    before = measure_clip(src)
    lut = transfer_lut(before, reference, strength=strength, look=look, size=lut_size,
                       name=name, adjust=adjust)
    cube_path = write_lut(lut, cube if cube is not None else Path(dst).with_suffix(".cube"))
    grade_clip(src, dst, cube_path, force_keyframes_s=keyframes, trim=trim)
    return before


def grade_shots(
    shots: Sequence[tuple[str, str, str | Path]],
    out_dir: str | Path,
    *,
    look_path: str | Path | None = None,
    reference_images: Mapping[str, str | Path] | None = None,
    strength: float = 1.0,
    keyframes: Mapping[str, Sequence[float]] | None = None,
    lut_size: int = 33,
) -> dict[str, GradeResult]:
    """Grade every shot of an episode to its scene's reference and the series look.

    Writes ``<out_dir>/<shot>.mp4`` and ``<shot>.cube`` for every shot, every call (no
    cache of its own: ``render_episode`` caches grading per shot in its stage runner).
    """
    out_dir = Path(out_dir)
    look = read_lut(look_path) if look_path else None
    refs = scene_references(shots, reference_images)
    results: dict[str, GradeResult] = {}
    for shot, scene, clip in shots:
        out = out_dir / f"{shot}.mp4"
        cube = out_dir / f"{shot}.cube"
        before = grade_shot(clip, out, refs[scene], cube=cube, look=look, strength=strength,
                            keyframes=list((keyframes or {}).get(shot, ())),
                            lut_size=lut_size, name=f"{shot} grade")
        results[shot] = GradeResult(shot=shot, source=str(clip), output=str(out),
                                    lut=str(cube), before=before, reference=refs[scene])
    return results


def preview_frame(rgb: np.ndarray, lut) -> np.ndarray:
    """One RGB frame (uint8, H x W x 3) through a LUT3D, as the grade renders it (the
    Edit Suite's before/after compare)."""
    out = lut.apply(np.asarray(rgb, np.float64) / 255.0)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
