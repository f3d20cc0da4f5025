"""SMPTE ST 429-5 timed-text track files: the subtitle XML (and its fonts) in an MXF.

Hand-written KLV because no well-kept library from the registries writes this kind of track
file: mxfuse 0.1 (the bmx core we wrap pictures and sound with) has no TimedTextDescriptor
nor TimedTextResourceSubDescriptor and cannot put a resource in a generic-stream partition;
asdcplib (which does) is neither on PyPI nor packaged for Debian here. The layout follows
asdcplib's ``TimedText::MXFWriter`` (src/AS_DCP_TimedText.cpp, h__Writer.cpp, MXF.cpp,
ULs and local tags from MDD.cpp), i.e. what cinema servers are tested against:

* closed complete header partition (OP-Atom), primer pack, header metadata: Preface,
  Identification, ContentStorage, EssenceContainerData (IndexSID 129, BodySID 1), a material
  package and a file package (each a timecode track and a "Timed Text Track" with one
  SourceClip), the TimedTextDescriptor (ResourceID = the SubtitleReel Id, UCSEncoding
  "UTF-8", NamespaceURI = the ST 428-7 namespace, RFC 5646 language) and one
  TimedTextResourceSubDescriptor per font (AncillaryResourceID, MIME type, EssenceStreamID);
* a closed complete body partition (BodySID 1) holding the XML document as ONE clip-wrapped
  essence element (key ``060e2b34.01020101.0d010301.17010b01``), byte for byte;
* one generic-stream partition per font (BodySID 10, 11, ...), the font as a
  generic-stream data element;
* a complete footer partition with the index table segment (one entry), and the RIP.

The asset UUID (CPL/PKL Id) is the file package UMID's material number, as asdcplib does.
:func:`read_timed_text` is a strict reader for the same structure (tests and the ClairMeta
unwrap step use it; the tests also read the file with mxfuse/bmx, an independent reader).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DCST_NS = "http://www.smpte-ra.org/schemas/428-7/2014/DCST"
FONT_MIME = "application/x-font-opentype"


def _ul(h: str) -> bytes:
    b = bytes.fromhex(h.replace(".", ""))
    assert len(b) == 16, h
    return b


# Keys (MDD.cpp)
K_HEADER = _ul("060e2b34.02050101.0d010201.01020400")      # ClosedCompleteHeader
K_BODY = _ul("060e2b34.02050101.0d010201.01030400")        # ClosedCompleteBodyPartition
K_GS_PART = _ul("060e2b34.02050101.0d010201.01031100")     # GenericStreamPartition
K_FOOTER = _ul("060e2b34.02050101.0d010201.01040400")      # CompleteFooter
K_PRIMER = _ul("060e2b34.02050101.0d010201.01050100")
K_RIP = _ul("060e2b34.02050101.0d010201.01110100")
K_INDEX = _ul("060e2b34.02530101.0d010201.01100100")
K_ESSENCE = _ul("060e2b34.01020101.0d010301.17010b01")     # TimedTextEssence, element 1
K_GS_DATA = _ul("060e2b34.0101010c.0d010509.01000000")     # GenericStream_DataElement
S_PREFACE = _ul("060e2b34.02530101.0d010101.01012f00")
S_IDENT = _ul("060e2b34.02530101.0d010101.01013000")
S_STORAGE = _ul("060e2b34.02530101.0d010101.01011800")
S_ECD = _ul("060e2b34.02530101.0d010101.01012300")
S_MATERIAL = _ul("060e2b34.02530101.0d010101.01013600")
S_SOURCE = _ul("060e2b34.02530101.0d010101.01013700")
S_TRACK = _ul("060e2b34.02530101.0d010101.01013b00")
S_SEQUENCE = _ul("060e2b34.02530101.0d010101.01010f00")
S_CLIP = _ul("060e2b34.02530101.0d010101.01011100")
S_TIMECODE = _ul("060e2b34.02530101.0d010101.01011400")
S_TT_DESC = _ul("060e2b34.02530101.0d010101.01016400")
S_TT_RES = _ul("060e2b34.02530101.0d010101.01016500")
OP_ATOM = _ul("060e2b34.04010102.0d010201.10000000")
GC_MULTI = _ul("060e2b34.04010103.0d010301.027f0100")
TT_WRAPPING = _ul("060e2b34.0401010a.0d010301.02130101")   # TimedTextWrappingClip
DATA_DEF = _ul("060e2b34.04010101.01030202.03000000")
TC_DEF = _ul("060e2b34.04010101.01030201.01000000")
NIL_UL = bytes(16)

# local tag -> UL (static tags from MDD.cpp; 0 = dynamic, assigned from 0xffff down)
_ITEMS: dict[str, tuple[int, str]] = {
    "InstanceUID": (0x3C0A, "060e2b34.01010101.01011502.00000000"),
    "LastModifiedDate": (0x3B02, "060e2b34.01010102.07020110.02040000"),
    "Version": (0x3B05, "060e2b34.01010102.03010201.05000000"),
    "ObjectModelVersion": (0x3B07, "060e2b34.01010102.03010201.04000000"),
    "PrimaryPackage": (0x3B08, "060e2b34.01010104.06010104.01080000"),
    "Identifications": (0x3B06, "060e2b34.01010102.06010104.06040000"),
    "ContentStorage": (0x3B03, "060e2b34.01010102.06010104.02010000"),
    "OperationalPattern": (0x3B09, "060e2b34.01010105.01020203.00000000"),
    "EssenceContainers": (0x3B0A, "060e2b34.01010105.01020210.02010000"),
    "DMSchemes": (0x3B0B, "060e2b34.01010105.01020210.02020000"),
    "ThisGenerationUID": (0x3C09, "060e2b34.01010102.05200701.01000000"),
    "CompanyName": (0x3C01, "060e2b34.01010102.05200701.02010000"),
    "ProductName": (0x3C02, "060e2b34.01010102.05200701.03010000"),
    "ProductVersion": (0x3C03, "060e2b34.01010102.05200701.04000000"),
    "VersionString": (0x3C04, "060e2b34.01010102.05200701.05010000"),
    "ProductUID": (0x3C05, "060e2b34.01010102.05200701.07000000"),
    "ModificationDate": (0x3C06, "060e2b34.01010102.07020110.02030000"),
    "ToolkitVersion": (0x3C07, "060e2b34.01010102.05200701.0a000000"),
    "Platform": (0x3C08, "060e2b34.01010102.05200701.06010000"),
    "Packages": (0x1901, "060e2b34.01010102.06010104.05010000"),
    "EssenceContainerData": (0x1902, "060e2b34.01010102.06010104.05020000"),
    "LinkedPackageUID": (0x2701, "060e2b34.01010102.06010106.01000000"),
    "IndexSID": (0x3F06, "060e2b34.01010104.01030405.00000000"),
    "BodySID": (0x3F07, "060e2b34.01010104.01030404.00000000"),
    "PackageUID": (0x4401, "060e2b34.01010101.01011510.00000000"),
    "Name": (0x4402, "060e2b34.01010101.01030302.01000000"),
    "PackageCreationDate": (0x4405, "060e2b34.01010102.07020110.01030000"),
    "PackageModifiedDate": (0x4404, "060e2b34.01010102.07020110.02050000"),
    "Tracks": (0x4403, "060e2b34.01010102.06010104.06050000"),
    "Descriptor": (0x4701, "060e2b34.01010102.06010104.02030000"),
    "TrackID": (0x4801, "060e2b34.01010102.01070101.00000000"),
    "TrackNumber": (0x4804, "060e2b34.01010102.01040103.00000000"),
    "TrackName": (0x4802, "060e2b34.01010102.01070102.01000000"),
    "Sequence": (0x4803, "060e2b34.01010102.06010104.02040000"),
    "EditRate": (0x4B01, "060e2b34.01010102.05300405.00000000"),
    "Origin": (0x4B02, "060e2b34.01010102.07020103.01030000"),
    "DataDefinition": (0x0201, "060e2b34.01010102.04070100.00000000"),
    "Duration": (0x0202, "060e2b34.01010102.07020201.01030000"),
    "StructuralComponents": (0x1001, "060e2b34.01010102.06010104.06090000"),
    "StartPosition": (0x1201, "060e2b34.01010102.07020103.01040000"),
    "SourcePackageID": (0x1101, "060e2b34.01010102.06010103.01000000"),
    "SourceTrackID": (0x1102, "060e2b34.01010102.06010103.02000000"),
    "RoundedTimecodeBase": (0x1502, "060e2b34.01010102.04040101.02060000"),
    "StartTimecode": (0x1501, "060e2b34.01010102.07020103.01050000"),
    "DropFrame": (0x1503, "060e2b34.01010101.04040101.05000000"),
    "Locators": (0x2F01, "060e2b34.01010102.06010104.06030000"),
    "SubDescriptors": (0, "060e2b34.01010109.06010104.06100000"),
    "LinkedTrackID": (0x3006, "060e2b34.01010105.06010103.05000000"),
    "SampleRate": (0x3001, "060e2b34.01010101.04060101.00000000"),
    "ContainerDuration": (0x3002, "060e2b34.01010101.04060102.00000000"),
    "EssenceContainer": (0x3004, "060e2b34.01010102.06010104.01020000"),
    "DataEssenceCoding": (0x3E01, "060e2b34.01010103.04030302.00000000"),
    "ResourceID": (0, "060e2b34.0101010c.01011512.00000000"),
    "UCSEncoding": (0, "060e2b34.0101010c.04090500.00000000"),
    "NamespaceURI": (0, "060e2b34.01010108.01020105.01000000"),
    "RFC5646LanguageTagList": (0, "060e2b34.0101010e.03010102.02160000"),
    "AncillaryResourceID": (0, "060e2b34.0101010c.01011513.00000000"),
    "MIMEMediaType": (0, "060e2b34.01010107.04090201.00000000"),
    "EssenceStreamID": (0, "060e2b34.01010104.01030404.00000000"),
}


def _tags() -> dict[str, tuple[int, bytes]]:
    out, dyn = {}, 0xFFFF
    for name, (tag, ul) in _ITEMS.items():
        if tag == 0:
            tag, dyn = dyn, dyn - 1
        out[name] = (tag, _ul(ul))
    return out


TAGS = _tags()
_BY_TAG = {tag: name for name, (tag, _ul_) in TAGS.items()}


def _ber4(n: int) -> bytes:
    """4-byte BER length (asdcplib's MXF_BER_LENGTH), 8 bytes past 16 MiB."""
    if n < 1 << 24:
        return b"\x83" + n.to_bytes(3, "big")
    return b"\x87" + n.to_bytes(7, "big")


def _klv(key: bytes, value: bytes) -> bytes:
    return key + _ber4(len(value)) + value


def _u16s(s: str) -> bytes:
    return s.encode("utf-16-be")


def _batch(items: list[bytes], size: int) -> bytes:
    return struct.pack(">II", len(items), size) + b"".join(items)


def _stamp(t: dt.datetime) -> bytes:
    return struct.pack(">HBBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second,
                       t.microsecond // 4000)


def _umid(material: uuid.UUID) -> bytes:
    return bytes.fromhex("060a2b340101010501010f2013000000") + material.bytes


def _set(key: bytes, iid: uuid.UUID, items: list[tuple[str, bytes]]) -> bytes:
    body = b"".join(struct.pack(">HH", TAGS[n][0], len(v)) + v
                    for n, v in [("InstanceUID", iid.bytes), *items])
    return _klv(key, body)


def _partition(key: bytes, *, this: int, prev: int, footer: int, header_bytes: int = 0,
               index_bytes: int = 0, index_sid: int = 0, body_sid: int = 0) -> bytes:
    value = struct.pack(">HHIQQQQQIQI", 1, 2, 1, this, prev, footer, header_bytes,
                        index_bytes, index_sid, 0, body_sid)
    return _klv(key, value + OP_ATOM + _batch([GC_MULTI, TT_WRAPPING], 16))


@dataclass
class Resource:
    """An ancillary resource (a font) carried in a generic-stream partition."""

    id: uuid.UUID
    data: bytes
    mime: str = FONT_MIME


def _rational(num: int, den: int) -> bytes:
    return struct.pack(">ii", num, den)


def timed_text_mxf(xml: bytes, *, asset: uuid.UUID, resource_id: uuid.UUID, duration: int,
                   edit_rate: tuple[int, int] = (24, 1), language: str = "",
                   resources: list[Resource] | None = None, issuer: str = "studio-kit",
                   product_version: str = "0", now: dt.datetime | None = None,
                   namespace: str = DCST_NS) -> bytes:
    """The whole ST 429-5 track file as bytes (subtitle documents are small).

    ``namespace`` is the descriptor's NamespaceURI: the ST 428-7 DCST namespace for a DCP;
    the tests also write an IMSC1 (ST 2067-5) one, the profile bmx reads, to read the same
    structure back with an independent reader."""
    resources = resources or []
    now = now or dt.datetime.now(dt.UTC)
    stamp = _stamp(now)
    u = uuid.uuid4
    rate = _rational(*edit_rate)
    tc_base = round(edit_rate[0] / edit_rate[1])
    d64 = struct.pack(">q", duration)
    track_number = struct.pack(">I", int.from_bytes(K_ESSENCE[12:16], "big"))
    ids = {k: u() for k in ("preface", "ident", "storage", "ecd", "mp", "fp", "desc")}
    sp_umid, mp_umid = _umid(asset), _umid(u())
    sets: list[bytes] = []

    def track(tid: int, name: str, number: bytes, ddef: bytes, comp: bytes,
              comp_key: bytes) -> uuid.UUID:
        t, s, c = u(), u(), u()
        sets.append(_set(S_TRACK, t, [("TrackID", struct.pack(">I", tid)),
                                      ("TrackNumber", number),
                                      ("TrackName", _u16s(name)),
                                      ("Sequence", s.bytes), ("EditRate", rate),
                                      ("Origin", bytes(8))]))
        sets.append(_set(S_SEQUENCE, s, [("DataDefinition", ddef), ("Duration", d64),
                                         ("StructuralComponents", _batch([c.bytes], 16))]))
        sets.append(_set(comp_key, c, [("DataDefinition", ddef), ("Duration", d64), *comp]))
        return t

    def tc_track() -> uuid.UUID:
        return track(1, "Timecode Track", bytes(4), TC_DEF,
                     [("RoundedTimecodeBase", struct.pack(">H", tc_base)),
                      ("StartTimecode", bytes(8)), ("DropFrame", b"\x00")], S_TIMECODE)

    mp_tracks = [tc_track(), track(2, "Timed Text Track", bytes(4), DATA_DEF,
                                   [("StartPosition", bytes(8)), ("SourcePackageID", sp_umid),
                                    ("SourceTrackID", struct.pack(">I", 2))], S_CLIP)]
    fp_tracks = [tc_track(), track(2, "Timed Text Track", track_number, DATA_DEF,
                                   [("StartPosition", bytes(8)),
                                    ("SourcePackageID", bytes(32)),
                                    ("SourceTrackID", bytes(4))], S_CLIP)]
    sub_ids = [u() for _ in resources]
    for sid, (i, res) in zip(sub_ids, enumerate(resources), strict=True):
        sets.append(_set(S_TT_RES, sid, [("AncillaryResourceID", res.id.bytes),
                                         ("MIMEMediaType", _u16s(res.mime)),
                                         ("EssenceStreamID", struct.pack(">I", 10 + i))]))
    desc = [("Locators", _batch([], 16)),
            ("SubDescriptors", _batch([s.bytes for s in sub_ids], 16)),
            ("LinkedTrackID", struct.pack(">I", 2)), ("SampleRate", rate),
            ("ContainerDuration", d64), ("EssenceContainer", TT_WRAPPING),
            ("DataEssenceCoding", NIL_UL), ("ResourceID", resource_id.bytes),
            ("UCSEncoding", _u16s("UTF-8")), ("NamespaceURI", _u16s(namespace))]
    if language:
        desc.append(("RFC5646LanguageTagList", _u16s(language)))
    sets.append(_set(S_TT_DESC, ids["desc"], desc))
    pkg = [("PackageCreationDate", stamp), ("PackageModifiedDate", stamp)]
    sets.append(_set(S_MATERIAL, ids["mp"], [
        ("PackageUID", mp_umid), ("Name", _u16s("Material Package")), *pkg,
        ("Tracks", _batch([t.bytes for t in mp_tracks], 16))]))
    sets.append(_set(S_SOURCE, ids["fp"], [
        ("PackageUID", sp_umid),
        ("Name", _u16s("File Package: SMPTE 429-5 clip wrapping of D-Cinema Timed Text data")),
        *pkg, ("Tracks", _batch([t.bytes for t in fp_tracks], 16)),
        ("Descriptor", ids["desc"].bytes)]))
    sets.append(_set(S_ECD, ids["ecd"], [("LinkedPackageUID", sp_umid),
                                         ("IndexSID", struct.pack(">I", 129)),
                                         ("BodySID", struct.pack(">I", 1))]))
    sets.append(_set(S_STORAGE, ids["storage"], [
        ("Packages", _batch([ids["mp"].bytes, ids["fp"].bytes], 16)),
        ("EssenceContainerData", _batch([ids["ecd"].bytes], 16))]))
    parts = [int(x) for x in (product_version.split(".") + ["0"] * 5)[:4] if x.isdigit()]
    pv = struct.pack(">5H", *(parts + [0] * 4)[:4], 1)  # release type 1 = released
    sets.append(_set(S_IDENT, ids["ident"], [
        ("ThisGenerationUID", u().bytes), ("CompanyName", _u16s(issuer)),
        ("ProductName", _u16s("studio-kit DCP")), ("ProductVersion", pv),
        ("VersionString", _u16s(product_version)),
        ("ProductUID", uuid.uuid5(uuid.NAMESPACE_URL, "studio-kit/dcp").bytes),
        ("ModificationDate", stamp), ("ToolkitVersion", pv),
        ("Platform", _u16s("studio-kit (Python)"))]))
    preface = _set(S_PREFACE, ids["preface"], [
        ("LastModifiedDate", stamp), ("Version", struct.pack(">H", 0x0102)),
        ("ObjectModelVersion", struct.pack(">I", 1)), ("PrimaryPackage", ids["fp"].bytes),
        ("Identifications", _batch([ids["ident"].bytes], 16)),
        ("ContentStorage", ids["storage"].bytes), ("OperationalPattern", OP_ATOM),
        ("EssenceContainers", _batch([GC_MULTI, TT_WRAPPING], 16)),
        ("DMSchemes", _batch([], 16))])
    primer = _klv(K_PRIMER, _batch([struct.pack(">H", t) + ul for t, ul in TAGS.values()], 18))
    metadata = primer + preface + b"".join(sets)

    # offsets: the partition packs have a fixed size, so everything is known up front
    pp_len = len(_partition(K_HEADER, this=0, prev=0, footer=0))
    body_at = pp_len + len(metadata)
    essence = _klv(K_ESSENCE, xml)
    gs_at, pos = [], body_at + pp_len + len(essence)
    for res in resources:
        gs_at.append(pos)
        pos += pp_len + len(_klv(K_GS_DATA, res.data))
    footer_at = pos
    index_items = [
        ("IndexEditRate", rate), ("IndexStartPosition", bytes(8)),
        ("IndexDuration", struct.pack(">q", 1)), ("EditUnitByteCount", bytes(4)),
        ("IndexSID", struct.pack(">I", 129)), ("BodySID", struct.pack(">I", 1)),
        ("SliceCount", b"\x00"), ("PosTableCount", b"\x00"),
        ("DeltaEntryArray", _batch([b"\x00\x00" + bytes(4)], 6)),
        ("IndexEntryArray", _batch([b"\x00\x00\x00" + bytes(8)], 11))]
    index = _index_segment(u(), index_items)

    out = [_partition(K_HEADER, this=0, prev=0, footer=footer_at,
                      header_bytes=len(metadata)) + metadata,
           _partition(K_BODY, this=body_at, prev=0, footer=footer_at, body_sid=1) + essence]
    prev = body_at
    for i, (at, res) in enumerate(zip(gs_at, resources, strict=True)):
        out.append(_partition(K_GS_PART, this=at, prev=prev, footer=footer_at,
                              body_sid=10 + i) + _klv(K_GS_DATA, res.data))
        prev = at
    out.append(_partition(K_FOOTER, this=footer_at, prev=prev, footer=footer_at,
                          index_bytes=len(index), index_sid=129) + index)
    pairs = [(0, 0), (1, body_at), *[(10 + i, at) for i, at in enumerate(gs_at)],
             (0, footer_at)]
    rip_body = b"".join(struct.pack(">IQ", sid, off) for sid, off in pairs)
    rip_len = 16 + 4 + len(rip_body) + 4
    out.append(K_RIP + _ber4(len(rip_body) + 4) + rip_body + struct.pack(">I", rip_len))
    data = b"".join(out)
    assert data.find(K_FOOTER, footer_at) == footer_at
    return data


# index table segment local tags (static; ST 377-1 table 17)
_INDEX_TAGS = {"IndexEditRate": 0x3F0B, "IndexStartPosition": 0x3F0C, "IndexDuration": 0x3F0D,
               "EditUnitByteCount": 0x3F05, "IndexSID": 0x3F06, "BodySID": 0x3F07,
               "SliceCount": 0x3F08, "PosTableCount": 0x3F0E, "DeltaEntryArray": 0x3F09,
               "IndexEntryArray": 0x3F0A}


def _index_segment(iid: uuid.UUID, items: list[tuple[str, bytes]]) -> bytes:
    body = struct.pack(">HH", 0x3C0A, 16) + iid.bytes + b"".join(
        struct.pack(">HH", _INDEX_TAGS[n], len(v)) + v for n, v in items)
    return _klv(K_INDEX, body)


def write_timed_text(path: Path, xml: bytes, **kw) -> Path:
    """Write :func:`timed_text_mxf` to ``path`` atomically (temp file + rename)."""
    from ..store.yamlio import atomic_write_bytes

    atomic_write_bytes(Path(path), timed_text_mxf(xml, **kw))
    return Path(path)


# ---------------------------------------------------------------------------- reading

class TimedTextError(ValueError):
    """The file is not an ST 429-5 track file this reader understands."""


@dataclass
class TimedTextTrack:
    xml: bytes
    asset: uuid.UUID                  # file package UMID material number
    resource_id: uuid.UUID            # TimedTextDescriptor ResourceID
    namespace: str
    encoding: str
    language: str
    duration: int
    edit_rate: tuple[int, int]
    essence_container: bytes
    resources: dict[uuid.UUID, tuple[str, bytes]] = field(default_factory=dict)
    partitions: list[tuple[bytes, int]] = field(default_factory=list)


def _read_ber(buf: bytes, at: int) -> tuple[int, int]:
    first = buf[at]
    if first < 0x80:
        return first, at + 1
    n = first & 0x7F
    return int.from_bytes(buf[at + 1:at + 1 + n], "big"), at + 1 + n


def _klvs(buf: bytes):
    at = 0
    while at < len(buf):
        key = buf[at:at + 16]
        if len(key) < 16 or key[:4] != b"\x06\x0e\x2b\x34":
            raise TimedTextError(f"no KLV key at byte {at}")
        n, v = _read_ber(buf, at + 16)
        if v + n > len(buf):
            raise TimedTextError(f"KLV at byte {at} runs past the end of the file")
        yield at, key, buf[v:v + n]
        at = v + n


def _local_set(value: bytes, primer: dict[int, bytes]) -> dict[bytes, bytes]:
    out, at = {}, 0
    while at < len(value):
        tag, n = struct.unpack_from(">HH", value, at)
        out[primer.get(tag, tag.to_bytes(2, "big"))] = value[at + 4:at + 4 + n]
        at += 4 + n
    return out


def read_timed_text(path: Path) -> TimedTextTrack:
    """Parse a SMPTE ST 429-5 track file strictly (partitions, primer, descriptor, RIP)."""
    buf = Path(path).read_bytes()
    primer: dict[int, bytes] = {}
    sets: list[tuple[bytes, dict[bytes, bytes]]] = []
    partitions: list[tuple[bytes, int]] = []
    xml: bytes | None = None
    gs_data: dict[int, bytes] = {}
    body_sid = 0
    ul = {n: u for n, (_t, u) in TAGS.items()}
    for at, key, value in _klvs(buf):
        if key[:13] == K_HEADER[:13] and key[13] in (2, 3, 4):
            partitions.append((key, at))
            body_sid = struct.unpack_from(">I", value, 60)[0]
        elif key == K_PRIMER:
            count, size = struct.unpack_from(">II", value)
            for i in range(count):
                tag = struct.unpack_from(">H", value, 8 + i * size)[0]
                primer[tag] = value[8 + i * size + 2:8 + i * size + 18]
        elif key == K_ESSENCE:
            if xml is not None:
                raise TimedTextError("more than one timed text essence element")
            xml = value
        elif key == K_GS_DATA:
            gs_data[body_sid] = value
        elif key[4:6] == b"\x02\x53" and key != K_INDEX:
            sets.append((key, _local_set(value, primer)))
        elif key == K_RIP:
            partitions.append((key, at))
    if xml is None:
        raise TimedTextError("no timed text essence element (key 060e2b34...17010b01)")
    desc = next((s for k, s in sets if k == S_TT_DESC), None)
    if desc is None:
        raise TimedTextError("no TimedTextDescriptor in the header metadata")
    source = next(s for k, s in sets if k == S_SOURCE)
    resources = {}
    for k, s in sets:
        if k == S_TT_RES:
            rid = uuid.UUID(bytes=s[ul["AncillaryResourceID"]])
            sid = struct.unpack(">I", s[ul["EssenceStreamID"]])[0]
            if sid not in gs_data:
                raise TimedTextError(f"resource {rid}: no generic stream partition {sid}")
            resources[rid] = (s[ul["MIMEMediaType"]].decode("utf-16-be"), gs_data[sid])
    num, den = struct.unpack(">ii", desc[ul["SampleRate"]])
    return TimedTextTrack(
        xml=xml, asset=uuid.UUID(bytes=source[ul["PackageUID"]][16:]),
        resource_id=uuid.UUID(bytes=desc[ul["ResourceID"]]),
        namespace=desc[ul["NamespaceURI"]].decode("utf-16-be"),
        encoding=desc[ul["UCSEncoding"]].decode("utf-16-be"),
        language=desc.get(ul["RFC5646LanguageTagList"], b"").decode("utf-16-be"),
        duration=struct.unpack(">q", desc[ul["ContainerDuration"]])[0],
        edit_rate=(num, den), essence_container=desc[ul["EssenceContainer"]],
        resources=resources, partitions=partitions)
