"""MXF track files through mxfuse (bmx core): JPEG 2000 picture and PCM sound, SMPTE ULs.

The asset UUID of each track file is carried in its file package UMID (material number), as
asdcplib does, so the CPL/PKL Id and the MXF agree.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import mxfuse
from mxfuse import ClipSpec, DescriptorKind, EssenceType, Identity, TrackSpec, write_mxf

JP2K_CONTAINER_UL = "060e2b34040101070d01030102" + "0c0100"   # JPEG 2000 frame wrapped
JP2K_2K_CODING_UL = "060e2b340401010904010202" + "03010103"   # 2K digital cinema profile
UMID_PREFIX = "060a2b340101010501010d2013000000"


def _identity(asset: uuid.UUID, issuer: str) -> Identity:
    return Identity(company_name=issuer, product_name="studio-kit DCP",
                    version_string=mxfuse.__version__,
                    material_package_uid=UMID_PREFIX + uuid.uuid4().hex,
                    file_source_package_uid=UMID_PREFIX + asset.hex)


def write_picture(path: Path, codestreams: list[Path], size: tuple[int, int],
                  asset: uuid.UUID, issuer: str, aspect: tuple[int, int]) -> None:
    spec = ClipSpec(edit_rate=(24, 1), duration=len(codestreams), timecode_track=False,
                    identity=_identity(asset, issuer), tracks=[TrackSpec(
                        EssenceType.OPAQUE_PICTURE, essence_container_ul=JP2K_CONTAINER_UL,
                        coding_ul=JP2K_2K_CODING_UL, stored_width=size[0],
                        stored_height=size[1], element_type=0x08, element_llen=4,
                        descriptor=DescriptorKind.RGBA, aspect_ratio=aspect,
                        component_depth=12)])
    with open(path, "wb") as f, write_mxf(f, spec) as clip:
        for cs in codestreams:
            clip.write_unit(cs.read_bytes())


def write_sound(path: Path, pcm: bytes, channels: int, asset: uuid.UUID, issuer: str) -> None:
    frame = 2000 * channels * 3
    frames = len(pcm) // frame
    spec = ClipSpec(edit_rate=(24, 1), duration=frames, timecode_track=False,
                    identity=_identity(asset, issuer), tracks=[TrackSpec(
                        EssenceType.WAVE_PCM, sampling_rate=48000, channel_count=channels,
                        quantization_bits=24)])
    with open(path, "wb") as f, write_mxf(f, spec) as clip:
        for i in range(frames):
            clip.write_unit(pcm[i * frame:(i + 1) * frame])


def read_track(path: Path) -> tuple[list[bytes], str]:
    """All frame payloads of the first track and the file package UMID (for checks)."""
    with open(path, "rb") as f, mxfuse.open_mxf(f) as clip:
        payloads = [pkg.frames[0].data for pkg in clip.read(count=clip.duration)]
    return payloads, ""
