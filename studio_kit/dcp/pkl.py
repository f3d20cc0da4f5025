"""SMPTE Packing List (ST 429-8): every asset with its size and base64 SHA-1 hash."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

NS = "http://www.smpte-ra.org/schemas/429-8/2007/PKL"


def sha1_b64(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()


@dataclass
class PklAsset:
    id: str
    path: Path
    type: str     # "application/mxf" or "text/xml"
    hash: str


def pkl_xml(pkl_id: str, title: str, issuer: str, issued: str, assets: list[PklAsset]) -> str:
    rows = "".join(
        f"    <Asset>\n      <Id>urn:uuid:{a.id}</Id>\n"
        f"      <AnnotationText>{escape(a.path.name)}</AnnotationText>\n"
        f"      <Hash>{a.hash}</Hash>\n      <Size>{a.path.stat().st_size}</Size>\n"
        f"      <Type>{a.type}</Type>\n      <OriginalFileName>{escape(a.path.name)}"
        f"</OriginalFileName>\n    </Asset>\n" for a in assets)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PackingList xmlns="{NS}">\n'
            f"  <Id>urn:uuid:{pkl_id}</Id>\n  <AnnotationText>{escape(title)}</AnnotationText>\n"
            f"  <IssueDate>{issued}</IssueDate>\n  <Issuer>{escape(issuer)}</Issuer>\n"
            f"  <Creator>studio-kit</Creator>\n  <AssetList>\n{rows}  </AssetList>\n"
            f"</PackingList>\n")
