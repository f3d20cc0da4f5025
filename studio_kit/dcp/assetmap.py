"""SMPTE ASSETMAP and VOLINDEX (ST 429-9)."""

from __future__ import annotations

from pathlib import Path

NS = "http://www.smpte-ra.org/schemas/429-9/2007/AM"


def assetmap_xml(am_id: str, issuer: str, issued: str, pkl_id: str,
                 assets: list[tuple[str, Path]]) -> str:
    def row(aid: str, p: Path, is_pkl: bool) -> str:
        return (f"    <Asset>\n      <Id>urn:uuid:{aid}</Id>\n"
                + ("      <PackingList>true</PackingList>\n" if is_pkl else "")
                + f"      <ChunkList>\n        <Chunk>\n          <Path>{p.name}</Path>\n"
                f"          <VolumeIndex>1</VolumeIndex>\n          <Offset>0</Offset>\n"
                f"          <Length>{p.stat().st_size}</Length>\n        </Chunk>\n"
                f"      </ChunkList>\n    </Asset>\n")

    rows = "".join(row(a, p, a == pkl_id) for a, p in assets)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<AssetMap xmlns="{NS}">\n'
            f"  <Id>urn:uuid:{am_id}</Id>\n  <Creator>studio-kit</Creator>\n"
            f"  <VolumeCount>1</VolumeCount>\n  <IssueDate>{issued}</IssueDate>\n"
            f"  <Issuer>{issuer}</Issuer>\n  <AssetList>\n{rows}  </AssetList>\n</AssetMap>\n")


def volindex_xml() -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<VolumeIndex xmlns="{NS}">\n'
            f"  <Index>1</Index>\n</VolumeIndex>\n")
