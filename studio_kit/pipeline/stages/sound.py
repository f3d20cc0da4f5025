"""Sound: ``mix`` (the storyboard's sound, shots end to end: dialogue, music, ambience,
effects, dubs; it needs no picture, so it runs on a second core while the pictures are
made), ``conform`` (every track cut to the assembled picture's record times, room tone
under the cards) and ``captions`` (SRT + WebVTT per language from the conformed cues).

Finer-grained pieces kept in the vault: ``audio_layer`` (music/ambience/effects layers and
dub masters, :class:`studio_kit.audio.episode.VaultLayers`), ``conform_track`` (each conformed
track)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import soundfile as sf

from ...audio.ambience import card_fill
from ...audio.dialogue import VaultSpeechStore, text_for
from ...audio.effects import user_effects
from ...audio.episode import VaultLayers
from ...audio.episode import build_episode_audio as build
from ...audio.mix import integrated_lufs, true_peak_dbtp, write_wav
from ...edit import captions as cap
from ...edit.decisions import trim_spans
from ...store.cache import Cache
from ...store.hashing import file_hash, stable_hash
from ..conform import conform, map_time
from ..context import RenderContext
from ..models import CONFORM_VERSION
from ..runner import StageContext, StageProduct, StageRunner
from .base import Stage
from .timing import PicturePlan


def mix_sound(r: RenderContext, primary: str, *, runner: StageRunner | None = None):
    proj = r.project
    inputs = {
        "storyboard": r.sb.model_dump(mode="json"),
        "characters": {k: v.model_dump(mode="json") for k, v in proj.characters.items()},
        "scenes": {k: v.model_dump(mode="json") for k, v in proj.scenes.items()},
        "series": proj.series.model_dump(mode="json"), "languages": r.languages,
        # the user effects the mix can cue (not every file in sfx/, e.g. a README)
        "sfx": {p.name: file_hash(p) for p in user_effects(proj.root).values()},
    }

    def fn(ctx: StageContext) -> StageProduct:
        dubs = [lang for lang in r.languages if lang != primary]
        ea = build(proj, r.episode, out_dir=ctx.workdir / "audio", dubs=dubs or False,
                   music_stems=False, progress=lambda f, what: ctx.progress(f, what),
                   speech_store=VaultSpeechStore(r.vault),
                   layer_cache=VaultLayers(r.vault, force=r.options.force))
        files = {"master": Path(ea.master), "stem:me": Path(ea.me)}
        files.update({f"stem:{k}": Path(v) for k, v in ea.stems.items()})
        files.update({f"dub:{k}": Path(d.master) for k, d in ea.dubs.items()})
        return StageProduct(files=files, meta={"audio": ea.model_dump(mode="json")})

    return (runner or r.runner).run("mix", inputs, fn)


def _conform_inputs(mix, timeline, plan: PicturePlan) -> dict[str, Any]:
    spans = [(t["shot_id"], t["start_s"], t["start_s"] + t["duration_s"])
             for t in mix.meta["audio"]["shots"]]
    return {"mix": mix.outputs, "spans": spans, "record": plan.content_starts(timeline),
            "total": timeline.duration_s}


def conform_sound(r: RenderContext, mix, timeline, plan: PicturePlan, *,
             runner: StageRunner | None = None):
    audio = mix.meta["audio"]
    inputs = _conform_inputs(mix, timeline, plan)
    # a trimmed shot's sound is cut like its picture

    spans = inputs["spans"] = trim_spans(inputs["spans"], r.sb)
    record = inputs["record"]
    fill, inputs["card_tone"] = card_fill(timeline, r.project.scenes)
    last = timeline.items[-1].transition
    inputs["fade_out_s"] = fade_out = timeline.seconds(last.frames) if last.fades_out else 0.0

    def fn(ctx: StageContext) -> StageProduct:
        digests: dict[str, str] = {}
        loud: dict[str, float] = {}
        tracks = Cache(r.vault, "conform_track")  # the render's --force scope decides
        for i, (key, digest) in enumerate(sorted(mix.outputs.items())):
            # each track is conformed once per (its sound, the edit): a track the change
            # did not touch (e.g. a dub after an original-language line edit) is reused
            # room tone under the cards: in the mixes and the M&E/ambience stems only
            toned = key in ("master", "stem:me", "stem:ambience") or key.startswith("dub:")
            track_key = stable_hash("conform-track", CONFORM_VERSION, digest, spans, record,
                                    timeline.duration_s, key == "master",
                                    inputs["card_tone"] if toned else None, fade_out)
            rec = tracks.lookup(track_key)
            if rec is None:
                x, sr = sf.read(str(r.vault.get(digest)), dtype="float32", always_2d=True)
                y = conform(x, spans, record, timeline.duration_s, sr,
                            gap_fill=fill if toned else None, fade_out_s=fade_out)
                path = write_wav(ctx.file(key.replace(":", "_") + ".wav"), y, sr)
                measured = {"integrated_lufs": round(integrated_lufs(y, sr), 2),
                            "true_peak_dbtp": round(true_peak_dbtp(y), 2)} \
                    if key == "master" else {}
                rec = tracks.put(track_key, files={"track": path}, meta=measured)
            digests[key] = rec.outputs["track"]
            if key == "master":
                loud = {**rec.meta, "target_lufs": r.project.series.loudness.lufs,
                        "ceiling_dbtp": r.project.series.loudness.peak,
                        "mix_integrated_lufs": audio["report"]["integrated_lufs"]}
            ctx.progress((i + 1) / len(mix.outputs))
        start_audio = {sid: a for sid, a, _ in spans}

        def moved(cues: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for c in cues:
                sid = c["shot_id"]
                out.append({**c, "start_s": round(map_time(c["start_s"], start_audio[sid],
                                                           record[sid]), 4),
                            "end_s": round(map_time(c["end_s"], start_audio[sid],
                                                    record[sid]), 4)})
            return out

        cues = {"": moved(audio["cues"])}
        for lang, dub in audio["dubs"].items():
            cues[lang] = moved(dub["cues"])
        return StageProduct(digests=digests, meta={"loudness": loud, "cues": cues})

    return (runner or r.runner).run("conform", inputs, fn, version=CONFORM_VERSION)


def make_captions(r: RenderContext, sound, primary: str, name: str):
    """SRT + WebVTT per series language, timed from the conformed dialogue cues."""
    proj = r.project
    inputs = {"cues": sound.meta["cues"], "languages": r.languages,
              "dialogue": {s.id: [d.model_dump(mode="json") for d in s.dialogue]
                           for s in r.sb.shots}}

    def fn(ctx: StageContext) -> StageProduct:
        cues = []
        for lang in r.languages:
            source = sound.meta["cues"].get(lang) if lang != primary else None
            for c in source if source is not None else sound.meta["cues"][""]:
                line = r.sb.shot(c["shot_id"]).dialogue[c["index"]]
                ch = proj.characters[c["character"]]
                text = c["text"] if source is not None else text_for(line, ch, lang)[0]
                cues.append(cap.Cue(start_s=c["start_s"], end_s=c["end_s"], text=text,
                                    speaker=ch.name, language=lang))
        if not cues:
            return StageProduct(meta={"languages": []})
        files = cap.write_captions(cues, ctx.workdir, stem=name)
        out: dict[str, Path] = {}
        for lang, f in files.items():
            out[f"{lang}:srt"], out[f"{lang}:vtt"] = Path(f.srt), Path(f.vtt)
        return StageProduct(files=out, meta={"languages": sorted(files)})

    return r.runner.run("captions", inputs, fn)


class MixStage(Stage):
    """The storyboard's sound in the primary language (and its dubs), started on the
    render's worker thread: it needs only the storyboard, so it runs while the pictures
    are made (after the dialogue stages: eSpeak is one synthesizer per process). Its
    product is the running job; ``conform`` joins it."""

    name = "mix"
    requires = ("dialogue",)
    runner_stages = ("mix",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        ctx.mix_future = ctx.in_thread(mix_sound, ctx.languages[0])
        return {"job": ctx.mix_future}


class ConformStage(Stage):
    """Every track of the mix conformed to the assembled picture's record times."""

    name = "conform"
    requires = ("timing", "mix", "assemble")
    runner_stages = ("conform",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        mixed = ctx.joined(ctx.product("mix", "job"))
        sound = conform_sound(ctx, mixed, ctx.product("assemble", "timeline"),
                              ctx.product("timing", "plan"))
        return {"mix": mixed, "sound": sound}


class CaptionsStage(Stage):
    """SRT + WebVTT per series language, timed from the conformed dialogue cues."""

    name = "captions"
    requires = ("conform",)
    runner_stages = ("captions",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        return {"captions": make_captions(ctx, ctx.product("conform", "sound"),
                                          ctx.languages[0], ctx.name)}


class DeliverSoundStage(Stage):
    """The mix, its stems and dubs and the caption files copied into the output folder."""

    name = "deliver_sound"
    requires = ("conform", "captions")

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        sound = ctx.product("conform", "sound")
        captions = ctx.product("captions", "captions")
        result, ep_dir, name = ctx.result, ctx.ep_dir, ctx.name
        if sound is not None:
            result.mix = str(ctx.export(sound.digest("master"),
                                        ep_dir / "audio" / f"{name}.wav"))
            for key, digest in sound.outputs.items():
                if key.startswith("stem:"):
                    ctx.export(digest, ep_dir / "audio" / "stems" / f"{key[5:]}.wav")
                elif key.startswith("dub:"):
                    ctx.export(digest, ep_dir / "audio" / "dubs" / f"{key[4:]}.wav")
            result.loudness = dict(sound.meta["loudness"])
        if captions is not None:
            for key, digest in captions.outputs.items():
                lang, fmt = key.split(":")
                dst = ctx.export(digest, ep_dir / f"{name}.{lang}.{fmt}")
                result.captions.setdefault(lang, {})[fmt] = str(dst)
        return {}
