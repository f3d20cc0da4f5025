"""Masters: MP4 (H.264 + AAC, dub tracks, soft subtitles) and ProRes 422 HQ .mov (PCM).

The picture is stream-copied into the MP4 (it was encoded once, by the shot render or a
transition segment); audio tracks are padded or trimmed to the picture's exact duration so
sound and picture end together. Every audio and subtitle track carries an ISO 639-2
language tag, which is what players show in their language menus.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..langtags import alpha3
from ..store.hashing import stable_hash
from ..video_encoding import H264_PARAMS, ffmpeg_build
from .frames import run_ffmpeg
from .pieces import DirPieces, PieceCache
from .probe import MediaInfo, probe


def iso639_2(language: str) -> str:
    """'en' / 'pt-BR' / 'fra' -> 'eng' / 'por' / 'fra' (ISO 639-2/T, through langcodes)."""
    code = alpha3(language)
    if code is None:
        raise StudioError(f"no ISO 639-2 code known for language {language!r}",
                          field="languages",
                          hint="use a 3-letter ISO 639-2 code (e.g. 'bre') in series.yaml"
                          )
    return code


class MasterInfo(BaseModel):
    path: str
    duration_s: float
    audio_languages: list[str]
    subtitle_languages: list[str]


def _check(path: str | Path, what: str) -> str:
    if not Path(path).is_file():
        raise StudioError(f"{what} not found", file=path, hint="render that stage first")
    return str(path)


def mux_master(
    video: str | Path,
    out: str | Path,
    *,
    audio: str | Path | None = None,
    audio_language: str = "en",
    dubs: Mapping[str, str | Path] | None = None,
    subtitles: Mapping[str, str | Path] | None = None,
    title: str | None = None,
    audio_bitrate: str = "192k",
    aac_cache: PieceCache | None = None,
    report: MuxReport | None = None,
    ceiling_dbtp: float | None = None,
) -> MasterInfo:
    """MP4 master: picture copied, master mix + dubs as AAC, SRT files as mov_text tracks.

    ``ceiling_dbtp`` (the series' true-peak ceiling): every AAC track's true peak is
    measured after encoding and held at or below ``ceiling_dbtp - AAC_MARGIN_DB``
    (re-encoded lower when the encoder overshot); ``report.true_peak_dbtp`` has the values.

    ``dubs``/``subtitles``: language -> audio file / .srt file. Each audio track is encoded
    on its own (``encode_aac``: padded or trimmed to the picture's duration) and the master
    is muxed with ``-c copy``; ``aac_cache`` (e.g. the project's vault) keeps the encoded
    tracks by the hash of their PCM and encoder arguments, so a re-render re-encodes only
    the tracks whose sound changed (a dub is often untouched by an original-language edit).
    """
    import tempfile

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vinfo = probe(video).video
    duration = vinfo.frames / (vinfo.fps or 24) if vinfo.frames else vinfo.duration_s
    inputs = ["-i", _check(video, "picture")]
    maps = ["-map", "0:v:0"]
    meta: list[str] = []
    audio_tracks: list[tuple[str, str]] = []
    if audio is not None:
        audio_tracks.append((audio_language, _check(audio, "master mix")))
    for lang, path in (dubs or {}).items():
        audio_tracks.append((lang, _check(path, f"{lang} dub")))
    with tempfile.TemporaryDirectory(prefix=".mux-", dir=out.parent) as tmp:
        encoded = _aac_tracks([p for _, p in audio_tracks], duration, audio_bitrate,
                              aac_cache if aac_cache is not None else DirPieces(Path(tmp), ".m4a"),
                              Path(tmp), report, ceiling_dbtp,
                              [lg for lg, _ in audio_tracks])
        return _mux_copy(inputs, maps, meta, list(zip([lg for lg, _ in audio_tracks], encoded,
                                                      strict=True)),
                         audio is not None, subtitles, title, duration, out)


def _mux_copy(inputs: list[str], maps: list[str], meta: list[str],
              audio_tracks: list[tuple[str, Path]], has_main: bool,
              subtitles: Mapping[str, str | Path] | None, title: str | None,
              duration: float, out: Path) -> MasterInfo:
    for n, (lang, path) in enumerate(audio_tracks):
        inputs += ["-i", str(path)]
        maps += ["-map", f"{n + 1}:a:0"]
        code = iso639_2(lang)
        meta += [f"-metadata:s:a:{n}", f"language={code}",
                 f"-metadata:s:a:{n}", f"title={'Main mix' if n == 0 and has_main else 'Dub'}"
                 f" ({lang})", f"-disposition:a:{n}", "default" if n == 0 else "0"]
    subs = list((subtitles or {}).items())
    for n, (lang, path) in enumerate(subs):
        inputs += ["-i", _check(path, f"{lang} captions")]
        maps += ["-map", f"{len(audio_tracks) + n + 1}:s:0"]
        meta += [f"-metadata:s:s:{n}", f"language={iso639_2(lang)}",
                 f"-disposition:s:{n}", "0"]
    codecs = ["-c:v", "copy"]
    if audio_tracks:
        codecs += ["-c:a", "copy"]  # encoded by encode_aac, already cut to the picture
    if subs:
        codecs += ["-c:s", "mov_text"]
    if title:
        meta += ["-metadata", f"title={title}"]
    part = out.with_name(f".{out.name}.part.mp4")
    run_ffmpeg([*inputs, *maps, *codecs, *meta, "-t", f"{duration:.6f}",
                "-movflags", "+faststart", str(part)], what="mux the MP4 master", file=out)
    part.replace(out)
    return _master_info(probe(out, packets=False))


#: Bumped when an AAC track's encode arguments change (part of every track's key).
AAC_TRACK_VERSION = "2"


class MuxReport(BaseModel):
    tracks: int = 0
    encoded: int = 0
    reused: int = 0
    true_peak_dbtp: dict[str, float] = Field(default_factory=dict, description=(
        "Delivered true peak (ffmpeg ebur128, 4x) of each AAC track encoded in this run, "
        "by language."))
    reencoded: int = Field(0, description="Encodes redone lower after an overshoot.")


def _aac_args(bitrate: str, duration: float, gain_db: float = 0.0) -> list[str]:
    gain = f"volume={gain_db:.3f}dB:precision=double," if gain_db else ""
    return ["-map", "0:a:0", "-vn", "-sn", "-c:a", "aac", "-b:a", bitrate, "-ar", "48000",
            "-af", f"{gain}apad", "-t", f"{duration:.6f}"]


def true_peak_dbtp(path: str | Path, *, stream: int = 0) -> float:
    """True peak (dBTP) of an audio stream as delivered, decoded and measured by ffmpeg's
    ``ebur128=peak=true`` filter (4x oversampled, BS.1770-4): the figure a loudness QC of
    the delivery sees. Read at full precision from the filter's frame metadata."""
    import subprocess

    from ..video_encoding import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error",
           "-i", _check(path, "audio"), "-map", f"0:a:{stream}", "-af",
           "ebur128=peak=true:metadata=1,"
           "ametadata=mode=print:key=lavfi.r128.true_peak:file=-", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    peaks = [float(line.split("=", 1)[1]) for line in proc.stdout.splitlines()
             if line.startswith("lavfi.r128.true_peak=")]
    if proc.returncode != 0 or not peaks:
        raise StudioError(f"ffmpeg could not measure the true peak: "
                          f"{proc.stderr.strip()[-400:]}", file=path,
                          hint="check the file with 'studio probe'")
    top = max(peaks)
    return 20 * math.log10(top) if top > 0 else -120.0


def encode_aac(src: str | Path, dst: str | Path, *, duration_s: float,
               bitrate: str = "192k", ceiling_dbtp: float | None = None) -> Path:
    """One AAC track (.m4a) of ``src``, padded with silence or trimmed to ``duration_s``.

    With ``ceiling_dbtp``: the encoded track's true peak is held at or below
    ``ceiling_dbtp - AAC_MARGIN_DB`` (see :func:`encode_aac_held`)."""
    return encode_aac_held(src, dst, duration_s=duration_s, bitrate=bitrate,
                           ceiling_dbtp=ceiling_dbtp)[0]


def encode_aac_held(src: str | Path, dst: str | Path, *, duration_s: float,
                    bitrate: str = "192k", ceiling_dbtp: float | None = None,
                    tries: int = 4) -> tuple[Path, float | None, int]:
    """Encode, measure the delivered true peak, and re-encode with the gain lowered by
    the excess (+0.1 dB) while it is above ``ceiling_dbtp - AAC_MARGIN_DB``.

    Returns (path, delivered true peak or None without a ceiling, re-encodes)."""
    from ..audio.mix import AAC_MARGIN_DB

    dst = Path(dst)
    gain_db = 0.0
    for n in range(tries):
        run_ffmpeg(["-i", _check(src, "audio"), *_aac_args(bitrate, duration_s, gain_db),
                    "-f", "mp4", str(dst)], what="encode an AAC track", file=src)
        if ceiling_dbtp is None:
            return dst, None, 0
        tp = true_peak_dbtp(dst)
        limit = ceiling_dbtp - AAC_MARGIN_DB
        if tp <= limit:
            return dst, round(tp, 3), n
        gain_db -= tp - limit + 0.1
    raise StudioError(f"the AAC track's true peak stays at {tp:.2f} dBTP, above "
                      f"{limit:.2f} dBTP, after {tries} encodes", file=src,
                      hint="lower the series loudness target or raise loudness.true_peak_dbtp")


def _aac_tracks(sources: list[str], duration: float, bitrate: str, cache: PieceCache,
                work: Path, report: MuxReport | None, ceiling_dbtp: float | None = None,
                names: list[str] | None = None) -> list[Path]:
    """Each source as an AAC track: from ``cache`` (keyed by the PCM's hash, the encoder
    arguments, the duration and the peak ceiling), else encoded (and its delivered true
    peak held under the ceiling). Tracks to encode run as separate ffmpeg processes side
    by side (ffmpeg's AAC encoder is single-threaded)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..audio.mix import AAC_MARGIN_DB
    from ..store.hashing import file_hash

    names = names or [str(i) for i in range(len(sources))]
    hold = None if ceiling_dbtp is None else (ceiling_dbtp, AAC_MARGIN_DB)
    keys = [stable_hash("aac-track", AAC_TRACK_VERSION, ffmpeg_build(), file_hash(src),
                        _aac_args(bitrate, duration), hold) for src in sources]
    found: list[Path | None] = [cache.get(k) for k in keys]
    todo = [i for i, f in enumerate(found) if f is None]
    if todo:
        with ThreadPoolExecutor(max_workers=min(2, len(todo))) as pool:
            made = list(pool.map(lambda i: encode_aac_held(
                sources[i], work / f"track{i}.m4a", duration_s=duration, bitrate=bitrate,
                ceiling_dbtp=ceiling_dbtp), todo))
        for i, (path, tp, redone) in zip(todo, made, strict=True):
            found[i] = cache.put(keys[i], path)
            if report is not None:
                report.reencoded += redone
                if tp is not None:
                    report.true_peak_dbtp[names[i]] = tp
    if report is not None:
        report.tracks, report.encoded = len(sources), len(todo)
        report.reused = len(sources) - len(todo)
    return [f for f in found if f is not None]


#: ffmpeg's ``prores`` encoder (prores_aw): measured 3.4x faster than ``prores_ks`` on a
#: 640x360 clip (11.9 s vs 39.9 s for 20 s of picture on this machine), same profile 3
#: (HQ, fourcc apch), 10-bit 4:2:2. prores_ks spends its time on per-slice rate control.
PRORES_ENCODER = "prores"
#: Bumped when a ProRes piece's encode arguments change (part of every piece's key).
PRORES_PIECE_VERSION = "1"


class ProresReport(BaseModel):
    pieces: int = 0
    encoded: int = 0
    reused: int = 0
    encoded_frames: int = 0


def _prores_args(encoder: str) -> list[str]:
    p = H264_PARAMS
    return ["-c:v", encoder, "-profile:v", "3", "-vendor", "apl0",
            "-pix_fmt", "yuv422p10le", "-colorspace", p.colorspace,
            "-color_primaries", p.color_primaries, "-color_trc", p.color_trc,
            "-color_range", p.color_range]


def _gops(video: Path) -> tuple[list[tuple[int, int, float, str]], Fraction]:
    """The picture cut at its keyframes: (first frame, frames, start seconds, hash of the
    packets' bytes). Same bytes from the same keyframe decode to the same frames (our H.264
    has no B-frames and one set of parameter sets), so the hash names that piece's picture.
    A stream whose decode order is not its display order is one piece."""
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or Fraction(24)
        tb = s.time_base
        head = stable_hash("gop", (s.codec_context.extradata or b"").hex(), s.width, s.height,
                           str(rate))
        gops: list[list] = []
        last_pts = first_pts = None
        reordered = False
        for pkt in c.demux(s):
            if pkt.size == 0 or pkt.pts is None:
                continue
            if last_pts is not None and pkt.pts <= last_pts:
                reordered = True
            last_pts = pkt.pts
            if first_pts is None:
                first_pts = pkt.pts  # -ss counts from the stream's start
            if pkt.is_keyframe or not gops:
                gops.append([len(gops) and gops[-1][0] + gops[-1][1], 0,
                             float((pkt.pts - first_pts) * tb), hashlib.sha256(head.encode())])
            gops[-1][1] += 1
            gops[-1][3].update(bytes(pkt))
    if reordered and gops:
        total = sum(g[1] for g in gops)
        whole = hashlib.sha256(head.encode())
        for g in gops:
            whole.update(g[3].digest())
        return [(0, total, gops[0][2], whole.hexdigest())], Fraction(rate)
    return [(g[0], g[1], g[2], g[3].hexdigest()) for g in gops], Fraction(rate)


def _encode_run(video: Path, run: list[tuple[int, int, float, str]], fps: Fraction,
                work: Path, encoder: str, tag: str) -> list[Path]:
    """Encode consecutive pieces in ONE ffmpeg pass, split by the segment muxer (ProRes is
    intra-only, so any frame starts a piece)."""
    first, frames = run[0][0], sum(g[1] for g in run)
    seek = [] if first == 0 else ["-ss", f"{run[0][2] - 0.5 / float(fps):.6f}"]
    splits = ",".join(str(g[0] - first) for g in run[1:])
    pattern = work / f"{tag}-%05d.mov"
    args = [*seek, "-i", str(video), "-map", "0:v:0", "-an", "-sn", "-frames:v", str(frames),
            *_prores_args(encoder), "-f", "segment", "-segment_format", "mov",
            "-reset_timestamps", "1"]
    if splits:
        args += ["-segment_frames", splits]
    run_ffmpeg([*args, str(pattern)], what="encode ProRes pieces", file=video)
    paths = [work / f"{tag}-{n:05d}.mov" for n in range(len(run))]
    if not all(p.is_file() for p in paths):
        raise StudioError(f"ProRes pieces missing for frames {first}..{first + frames}",
                          file=video, hint="the picture's timestamps are irregular")
    return paths


def _pieces(video: Path, gops: list[tuple[int, int, float, str]], fps: Fraction,
            cache: PieceCache, work: Path, encoder: str, rep: ProresReport) -> list[Path]:
    """Every piece of the picture from ``cache``, encoding the missing ones."""
    keys = [stable_hash("prores-piece", PRORES_PIECE_VERSION, ffmpeg_build(), encoder,
                        _prores_args(encoder),
                        g[3], g[1]) for g in gops]
    files: list[Path | None] = [cache.get(k) for k in keys]
    rep.pieces, rep.reused = len(gops), sum(f is not None for f in files)
    i = 0
    while i < len(gops):
        if files[i] is not None:
            i += 1
            continue
        j = i
        while j < len(gops) and files[j] is None:
            j += 1
        made = _encode_run(video, gops[i:j], fps, work, encoder, f"run{i}")
        for n, path in enumerate(made):
            files[i + n] = cache.put(keys[i + n], path)
        rep.encoded += j - i
        rep.encoded_frames += sum(g[1] for g in gops[i:j])
        i = j
    return [f for f in files if f is not None]


def prores_pieces(video: str | Path, pieces: PieceCache, *, encoder: str = PRORES_ENCODER,
                  report: ProresReport | None = None,
                  work_dir: str | Path | None = None) -> ProresReport:
    """Encode the picture's missing ProRes pieces into ``pieces`` (no master written).

    The picture part of ``prores_master``, which needs no sound: a pipeline can run it as
    soon as the picture is assembled, while the sound is still being conformed; the
    master then finds every piece in ``pieces`` and only concatenates."""
    import tempfile

    video = Path(_check(video, "picture"))
    rep = report if report is not None else ProresReport()
    gops, fps = _gops(video)
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".prores-pieces-", dir=work_dir) as tmp:
        _pieces(video, gops, fps, pieces, Path(tmp), encoder, rep)
    return rep


def prores_master(
    video: str | Path,
    out: str | Path,
    *,
    audio: str | Path | None = None,
    audio_language: str = "en",
    dubs: Mapping[str, str | Path] | None = None,
    pieces: PieceCache | None = None,
    encoder: str = PRORES_ENCODER,
    report: ProresReport | None = None,
) -> MasterInfo:
    """ProRes 422 HQ (profile 3, 10-bit 4:2:2) .mov with 24-bit PCM audio, smart-rendered.

    The picture is cut at its keyframes into pieces, each named by the hash of its H.264
    packets; a piece already in ``pieces`` is reused, the others are encoded (consecutive
    ones in one ffmpeg pass). ProRes is intra-frame only, so the pieces are concatenated
    with the concat demuxer and ``-c copy``, and the sound is muxed in the same pass:
    after a one-shot edit only that shot's pieces (and its transitions') are re-encoded.
    """
    import tempfile

    out = Path(out)
    video = Path(_check(video, "picture"))
    out.parent.mkdir(parents=True, exist_ok=True)
    gops, fps = _gops(video)
    total = sum(g[1] for g in gops)
    if not total:
        raise StudioError("the picture has no frames", file=video, hint="re-assemble it")
    rep = report if report is not None else ProresReport()
    with tempfile.TemporaryDirectory(prefix=".prores-", dir=out.parent) as tmp:
        work = Path(tmp)
        cache = pieces if pieces is not None else DirPieces(work, ".mov")
        files = _pieces(video, gops, fps, cache, work, encoder, rep)
        lines = ["ffconcat version 1.0"]
        for g, f in zip(gops, files, strict=True):
            assert f is not None
            quoted = str(Path(f).resolve()).replace("'", "'\\''")
            lines += [f"file '{quoted}'", f"duration {float(Fraction(g[1]) / fps):.9f}"]
        listing = work / "pieces.ffconcat"
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        maps = ["-map", "0:v:0"]
        meta: list[str] = []
        tracks = ([(audio_language, str(audio))] if audio is not None else []) + [
            (k, str(v)) for k, v in (dubs or {}).items()]
        for n, (lang, path) in enumerate(tracks):
            inputs += ["-i", _check(path, f"{lang} audio")]
            maps += ["-map", f"{n + 1}:a:0"]
            meta += [f"-metadata:s:a:{n}", f"language={iso639_2(lang)}"]
        codecs = ["-c:v", "copy"]
        if tracks:
            codecs += ["-c:a", "pcm_s24le", "-ar", "48000", "-af", "apad"]
        part = out.with_name(f".{out.name}.part.mov")
        run_ffmpeg([*inputs, *maps, *codecs, *meta, "-t", f"{float(total / fps):.6f}",
                    str(part)], what="concatenate the ProRes master", file=out)
    got = probe(part).video.frames
    if got != total:
        part.unlink(missing_ok=True)
        raise StudioError(f"ProRes master has {got} frames, the picture {total}", file=out,
                          hint="the picture's timestamps are irregular; re-assemble it")
    part.replace(out)
    return _master_info(probe(out, packets=False))


def _master_info(info: MediaInfo) -> MasterInfo:
    return MasterInfo(path=info.path, duration_s=info.duration_s,
                      audio_languages=[s.language or "und" for s in info.of_type("audio")],
                      subtitle_languages=[s.language or "und" for s in info.of_type("subtitle")])
