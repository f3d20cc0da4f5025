"""SMPTE Composition Playlist (ST 429-7)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

NS = "http://www.smpte-ra.org/schemas/429-7/2006/CPL"


@dataclass
class Reel:
    picture_id: str
    sound_id: str
    duration: int
    aspect: str          # "1998 1080"
    picture_hash: str
    sound_hash: str
    subtitle_id: str = ""        # a MainSubtitle (ST 429-5 track file) when set
    subtitle_hash: str = ""
    subtitle_language: str = ""


def cpl_xml(cpl_id: str, title: str, kind: str, issuer: str, issued: str, reel_id: str,
            reel: Reel) -> str:
    def asset(tag: str, aid: str, h: str, extra: str = "") -> str:
        return (f"      <{tag}>\n        <Id>urn:uuid:{aid}</Id>\n"
                f"        <EditRate>24 1</EditRate>\n"
                f"        <IntrinsicDuration>{reel.duration}</IntrinsicDuration>\n"
                f"        <EntryPoint>0</EntryPoint>\n"
                f"        <Duration>{reel.duration}</Duration>\n"
                f"        <Hash>{h}</Hash>\n{extra}      </{tag}>\n")

    pic_extra = (f"        <FrameRate>24 1</FrameRate>\n"
                 f"        <ScreenAspectRatio>{reel.aspect}</ScreenAspectRatio>\n")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CompositionPlaylist xmlns="{NS}">\n'
            f"  <Id>urn:uuid:{cpl_id}</Id>\n"
            f"  <AnnotationText>{escape(title)}</AnnotationText>\n"
            f"  <IssueDate>{issued}</IssueDate>\n  <Issuer>{escape(issuer)}</Issuer>\n"
            f"  <Creator>studio-kit</Creator>\n"
            f"  <ContentTitleText>{escape(title)}</ContentTitleText>\n"
            f"  <ContentKind>{escape(kind)}</ContentKind>\n"
            f"  <ContentVersion>\n    <Id>urn:uuid:{cpl_id}_{issued[:10]}</Id>\n"
            f"    <LabelText>{escape(title)}_{issued[:10]}</LabelText>\n  </ContentVersion>\n"
            f"  <RatingList/>\n"
            f"  <ReelList>\n    <Reel>\n      <Id>urn:uuid:{reel_id}</Id>\n"
            f"      <AssetList>\n"
            + asset("MainPicture", reel.picture_id, reel.picture_hash, pic_extra)
            + asset("MainSound", reel.sound_id, reel.sound_hash)
            + (asset("MainSubtitle", reel.subtitle_id, reel.subtitle_hash,
                     f"        <Language>{escape(reel.subtitle_language)}</Language>\n")
               if reel.subtitle_id else "")
            + "      </AssetList>\n    </Reel>\n  </ReelList>\n</CompositionPlaylist>\n")
