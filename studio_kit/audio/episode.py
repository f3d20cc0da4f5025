"""One entry point for an episode's audio: ``build_episode_audio``.

Flow: speak every line (original languages) -> plan shot timing from dialogue length and
J/L-cuts -> dialogue layer (panned by the speaker's set mark) -> music per act -> ambience
per scene -> effects from action lines -> mix (gains, ducking) -> master to the series'
loudness target -> stems + M&E -> one dub per series language on the same picture timing.
Files land in ``out_dir`` (default ``episodes/<nn>/audio/``) with an ``audio.json``
manifest (:class:`EpisodeAudio`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from ..errors import StudioError
from ..models import Storyboard
from ..progress import FractionFn, FractionMessageFn
from ..store.hashing import file_hash, stable_hash
from ..store.yamlio import atomic_write_text
from ..visemes import Viseme
from . import SAMPLE_RATE
from .ambience import render_ambience
from .dialogue import SpeechStore, SpokenLine, speak_line, speak_storyboard
from .effects import find_cues, render_effects, user_effects
from .mix import LAYERS, MasterReport, MixSettings, master, mix_layers, pan_gains, write_wav
from .music import STEMS as MUSIC_STEMS
from .music import act_mood, plan_score, render_score
from .timing import Pacing, ShotTiming, plan_timing, total_duration

#: (fraction, what) or a bare fraction: the fraction views of studio_kit.progress
ProgressFn = FractionMessageFn | FractionFn


class LineCue(BaseModel):
    shot_id: str
    index: int
    character: str
    language: str
    text: str
    start_s: float = Field(description="Episode time the line starts.")
    end_s: float
    voice: str
    engine: str
    fallback: bool = Field(False, description="Dub had no translation: original kept.")
    visemes: list[tuple[float, Viseme]] = Field(
        default_factory=list, description="Relative to the line's start.")


class EffectCue(BaseModel):
    shot_id: str
    name: str
    start_s: float
    source: str
    keyword: str


class ActScore(BaseModel):
    act_id: str
    mood: str
    key: str
    mode: str
    tempo_bpm: float
    instruments: list[str]
    intensity: float
    start_s: float
    end_s: float


class DubTrack(BaseModel):
    language: str
    master: str
    dialogue: str
    duration_s: float
    report: MasterReport
    cues: list[LineCue]
    missing_translations: int = 0


class EpisodeAudio(BaseModel):
    episode: str
    language: str | None = Field(None, description="None: every line in its own language.")
    sample_rate: int = SAMPLE_RATE
    duration_s: float
    out_dir: str
    master: str
    stems: dict[str, str]
    me: str = Field(description="Music & effects (+ ambience) mix, for dubbing.")
    music_stems: dict[str, str] = Field(default_factory=dict)
    report: MasterReport
    shots: list[ShotTiming]
    cues: list[LineCue]
    effects: list[EffectCue]
    score: list[ActScore]
    dubs: dict[str, DubTrack] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def shot(self, shot_id: str) -> ShotTiming:
        for s in self.shots:
            if s.shot_id == shot_id:
                return s
        raise StudioError(f"no shot {shot_id!r} in this episode's audio",
                          hint=f"shots: {', '.join(s.shot_id for s in self.shots)}")

    def shot_visemes(self, shot_id: str, language: str | None = None) -> list[tuple[float, str]]:
        """(t, viseme) relative to the shot's picture start: what EngineRequest.visemes takes."""
        if language and language not in self.dubs:
            raise StudioError(f"no {language!r} dub track in this episode's audio",
                              field="language",
                              hint=f"dub tracks: {', '.join(sorted(self.dubs)) or 'none'}")
        cues = self.dubs[language].cues if language else self.cues
        t0 = self.shot(shot_id).start_s
        out: list[tuple[float, str]] = []
        for c in sorted((c for c in cues if c.shot_id == shot_id), key=lambda c: c.start_s):
            out.extend((round(c.start_s - t0 + t, 4), Viseme(v).value) for t, v in c.visemes)
        return sorted(out, key=lambda p: p[0])  # dual dialogue lines overlap

    def save(self, path: str | Path | None = None) -> Path:
        path = Path(path) if path else Path(self.out_dir) / "audio.json"
        atomic_write_text(path, self.model_dump_json(indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> EpisodeAudio:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


class LayerCache(Protocol):
    """Where rendered layers are kept between builds (e.g. the project's vault), keyed by
    a hash of exactly their inputs and the code that renders them."""

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None: ...

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None: ...


class VaultLayers:
    """Layers kept in a vault: the ``audio_layer`` cache of ``store.cache.Cache`` (key ->
    one .npy object per array, meta in the record). ``force``: never reuse what an earlier
    run made, only store; by default the vault's or the context's ``--force`` scope
    decides."""

    def __init__(self, vault: Any, *, force: bool | None = None) -> None:
        from ..store.cache import Cache

        self.vault = vault
        self.cache = Cache(vault, "audio_layer", force=True if force else None)

    @property
    def force(self) -> bool:
        return self.cache.forcing

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        return self.cache.get_arrays(key)

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.cache.put_arrays(key, arrays, meta)


@cache
def _code_tag(*modules: str) -> str:
    """Hash of the source of the modules that render a layer (and of the numeric libraries'
    versions): a code change is a miss."""
    import importlib

    import pyloudnorm
    import scipy

    h = hashlib.sha256(f"numpy {np.__version__} scipy {scipy.__version__} pyloudnorm "
                       f"{getattr(pyloudnorm, '__version__', '?')}".encode())
    for name in modules:
        mod = importlib.import_module(name)
        h.update(Path(mod.__file__ or name).read_bytes())
    return h.hexdigest()


def _cached(cache: LayerCache | None, key: str,
            make: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]
            ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``make()`` (arrays, meta), or what ``cache`` holds under ``key``."""
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    arrays, info = make()
    if cache is not None:
        cache.put(key, arrays, info)
    return arrays, info


def _cue_inputs(cues: list) -> list[dict[str, Any]]:
    out = []
    for c in cues:
        d = dataclasses.asdict(c)
        if c.source != "library":  # a user effect file: its content, not its name
            d["source_hash"] = file_hash(c.source)
        out.append(d)
    return out


def _arity(fn) -> int:
    """How many positional arguments a progress callback takes (1: fraction only, like
    the engines' ProgressFn; 2: fraction and stage name)."""
    if fn is None:
        return 0
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _speaker_pan(project, storyboard: Storyboard, shot_id: str, character: str,
                 width: float) -> float:
    shot = storyboard.shot(shot_id)
    scene = project.scenes.get(shot.scene)
    for member in shot.characters:
        if member.character == character and member.mark and scene:
            mark = scene.mark(member.mark)
            if mark is not None:
                return (mark.x - 0.5) * 2 * width
    return 0.0


def _dialogue_layer(project, storyboard: Storyboard, lines: list[SpokenLine],
                    starts: dict[tuple[str, int], float], total_s: float,
                    settings: MixSettings) -> tuple[np.ndarray, list[LineCue]]:
    n = int(round(total_s * SAMPLE_RATE))
    out = np.zeros((n, 2), np.float32)
    cues = []
    for ln in lines:
        t = starts[(ln.shot_id, ln.index)]
        a = int(round(t * SAMPLE_RATE))
        x = ln.samples[: max(0, n - a)]
        gl, gr = pan_gains(_speaker_pan(project, storyboard, ln.shot_id, ln.character,
                                        settings.pan_width))
        out[a:a + len(x), 0] += x * gl
        out[a:a + len(x), 1] += x * gr
        cues.append(LineCue(shot_id=ln.shot_id, index=ln.index, character=ln.character,
                            language=ln.language, text=ln.text, start_s=round(t, 4),
                            end_s=round(t + ln.duration_s, 4), voice=ln.voice, engine=ln.engine,
                            fallback=ln.fallback, visemes=ln.visemes))
    return out, cues


def _dub_lines(project, storyboard: Storyboard, language: str,
               starts: dict[tuple[str, int], float], timings: list[ShotTiming],
               total_s: float, warnings: list[str],
               store: SpeechStore | None = None) -> list[SpokenLine]:
    """Dub lines at the original starts; a line longer than its room is sped up (<= 1.5x)."""
    order = sorted(starts.items(), key=lambda kv: kv[1])
    next_start = {k: (order[i + 1][1] if i + 1 < len(order) else total_s)
                  for i, (k, _) in enumerate(order)}
    ends = {t.shot_id: t.end_s + t.audio_trail_s for t in timings}
    out = []
    for shot in storyboard.shots:
        for i, line in enumerate(shot.dialogue):
            key = (shot.id, i)
            room = max(0.3, min(next_start[key], ends[shot.id], total_s) - starts[key] - 0.05)
            sl = speak_line(project.characters, line, shot_id=shot.id, index=i,
                            language=language, store=store)
            if sl.duration_s > room:
                scale = min(1.5, sl.duration_s / room * 1.05)
                sl = speak_line(project.characters, line, shot_id=shot.id, index=i,
                                language=language, rate_scale=scale, store=store)
                if sl.duration_s > room + 0.05:
                    warnings.append(f"dub {language}: shot {shot.id} line {i + 1} runs "
                                    f"{sl.duration_s - room:.2f}s past its room")
            if sl.fallback:
                warnings.append(f"dub {language}: shot {shot.id} line {i + 1} has no "
                                f"translation; the original ({sl.language}) is kept")
            out.append(sl)
    return out


def build_episode_audio(project, episode: str, *, language: str | None = None,
                        out_dir: str | Path | None = None, progress: ProgressFn | None = None,
                        settings: MixSettings | None = None, pacing: Pacing | None = None,
                        dubs: bool | list[str] = True, music_stems: bool = True,
                        seed: int = 0, speech_store: SpeechStore | None = None,
                        layer_cache: LayerCache | None = None) -> EpisodeAudio:
    """Build, mix and master an episode's audio; write master, stems, M&E and dubs.

    ``language`` None speaks every line in its own language (the original version);
    a code speaks every line in that language (translations) on the original timing.
    ``dubs``: True = one dub per other series language, or an explicit list, or False.
    ``speech_store``: a persistent cache of synthesized lines (e.g. ``VaultSpeechStore``):
    a re-render then speaks only the lines whose text, voice or language changed.
    ``layer_cache``: keeps the music, ambience and effects layers and each dub's master by
    their exact inputs, so a dialogue edit that keeps the shots' timing re-renders only
    the dialogue layer, the ducking and the master (and only the dubs whose lines changed).
    """
    settings = settings or MixSettings()
    sb = project.storyboard(episode)
    ep = project.episode(episode)
    out = Path(out_dir) if out_dir else ep.folder / "audio"
    warnings: list[str] = []

    n_args = _arity(progress)

    def step(frac: float, what: str) -> None:
        if progress is not None:
            progress(frac, what) if n_args >= 2 else progress(frac)  # type: ignore[call-arg]

    if not sb.shots:
        raise StudioError("the storyboard has no shots", file=ep.storyboard_path,
                          hint="add shots to an act before building audio")
    step(0.0, "dialogue")
    original = speak_storyboard(project.characters, sb,
                                progress=lambda f: step(0.3 * f, "dialogue"),
                                store=speech_store)
    durations = {sid: [(ln.duration_s, ln.dual) for ln in lines]
                 for sid, lines in original.items()}
    timings, starts = plan_timing(sb, durations, fps=project.series.format.fps, pacing=pacing)
    total = total_duration(timings)
    for t in timings:
        if t.extended:
            warnings.append(f"shot {t.shot_id}: dialogue needs {t.duration_s:.2f}s "
                            f"(storyboard {t.storyboard_s:.2f}s); the shot is extended")
    if language is None:
        main_lines = [ln for lines in original.values() for ln in lines]
    else:
        main_lines = _dub_lines(project, sb, language, starts, timings, total, warnings,
                                speech_store)
    dialogue, cues = _dialogue_layer(project, sb, main_lines, starts, total, settings)

    step(0.35, "music")
    acts = []
    for act in sb.acts:
        ts = [t for t in timings if t.act_id == act.id]
        if ts:
            acts.append((act.id, act_mood(act, project.scenes), ts[0].start_s, ts[-1].end_s))
    score = plan_score(acts)
    for c in score:
        if not c.known_mood:
            warnings.append(f"act {c.act_id}: mood {dict((a[0], a[1]) for a in acts)[c.act_id]!r}"
                            " is not known; scored as neutral (see docs/audio.md for moods)")
    # Music renders in a second thread while ambience and effects render here: numpy and
    # scipy release the GIL in their loops, so the two cores both work.
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        music_key = stable_hash("music", _code_tag(render_score.__module__),
                                [dataclasses.asdict(c) for c in score], total, seed,
                                SAMPLE_RATE)

        def make_music() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
            stems = render_score(score, total, seed=seed)
            # without music stems only their sum is needed (and kept): one array, not four
            return (stems if music_stems else {"music": sum(stems.values())}), {}

        music_job = pool.submit(_cached, layer_cache,
                                stable_hash(music_key, "stems" if music_stems else "sum"),
                                make_music)

        step(0.5, "ambience")
        runs: list[list] = []
        for t in timings:
            if runs and runs[-1][0].id == t.scene:
                runs[-1][2] = t.end_s
            else:
                scene = project.scenes.get(t.scene)
                if scene is None:
                    raise StudioError(f"shot {t.shot_id}: unknown scene {t.scene!r}",
                                      file=ep.storyboard_path, field="scene",
                                      hint="use a scene id from scenes/*.yaml")
                runs.append([scene, t.start_s, t.end_s])
        files = {sid: str(project.root / "scenes" / f"{sid}.yaml") for sid in project.scenes}
        # (the scene files' paths only name a scene in error messages: not in the key, so
        # moving the project or adding another episode's scene keeps the layer)
        amb_key = stable_hash("ambience", _code_tag(render_ambience.__module__),
                              [(r[0].model_dump(mode="json"), r[1], r[2]) for r in runs],
                              total, seed, SAMPLE_RATE)
        ambience = _cached(layer_cache, amb_key, lambda: ({"ambience": render_ambience(
            [tuple(r) for r in runs], total, seed=seed, files=files)}, {}))[0]["ambience"]

        step(0.6, "effects")
        user = user_effects(project.root)
        fx_cues = []
        pans: dict[str, float] = {}
        for t in timings:
            shot = sb.shot(t.shot_id)
            found = find_cues(shot.id, shot.action, t.start_s, t.duration_s, user)
            scene = project.scenes.get(shot.scene)
            for c in found:
                mark = next((m for m in (scene.set_layout if scene else [])
                             if c.name in (m.name, m.prop)), None)
                if mark is not None:
                    pans[c.name] = (mark.x - 0.5) * 2 * settings.pan_width
            fx_cues.extend(found)
        fx_key = stable_hash("effects", _code_tag(render_effects.__module__),
                             _cue_inputs(fx_cues), total, pans, seed, SAMPLE_RATE)
        effects = _cached(layer_cache, fx_key, lambda: ({"effects": render_effects(
            fx_cues, total, pans=pans, seed=seed)}, {}))[0]["effects"]

        step(0.7, "mix")
        music = music_job.result()[0]
        raw = {"dialogue": dialogue, "effects": effects,
               "music": sum(music.values()) if music_stems else music["music"],
               "ambience": ambience}
        layers = mix_layers(raw, settings)
        mixed = sum(layers[k] for k in LAYERS)
        curve, report = master(mixed, project.series.loudness,
                               tolerance_lu=settings.loudness_tolerance_lu)
        step(0.8, "write")
        # Files are written by the pool (each array is made when its job runs), overlapping
        # the dubs' synthesis and mastering.
        jobs: list = []

        def write(path: Path, make) -> str:
            jobs.append(pool.submit(lambda: write_wav(path, make())))
            return str(path)

        master_path = write(out / "master.wav", lambda: mixed * curve[:, None])
        stems = {k: write(out / "stems" / f"{k}.wav", lambda k=k: layers[k] * curve[:, None])
                 for k in LAYERS}
        me = write(out / "stems" / "me.wav", lambda: (layers["music"] + layers["effects"]
                                                      + layers["ambience"]) * curve[:, None])
        mstems = {}
        if music_stems:
            g = settings.gain("music")
            for k in MUSIC_STEMS:
                mstems[k] = write(out / "stems" / "music" / f"{k}.wav",
                                  lambda k=k: music[k] * g * curve[:, None])

        dub_tracks: dict[str, DubTrack] = {}
        if dubs:
            langs = list(dubs) if isinstance(dubs, list) else list(project.series.languages)
            langs = [lg for lg in langs if lg != language]
            for i, lang in enumerate(langs):
                step(0.85 + 0.15 * i / max(1, len(langs)), f"dub {lang}")
                dub_warn: list[str] = []
                dlines = _dub_lines(project, sb, lang, starts, timings, total, dub_warn,
                                    speech_store)
                warnings.extend(dub_warn)
                ddial, dcues = _dialogue_layer(project, sb, dlines, starts, total, settings)
                dub_key = stable_hash(
                    "dub", _code_tag(__name__, mix_layers.__module__),
                    hashlib.sha256(np.ascontiguousarray(ddial).tobytes()).hexdigest(),
                    music_key, amb_key, fx_key, settings, project.series.loudness)

                def make_dub(ddial=ddial) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
                    dl = mix_layers({**raw, "dialogue": ddial}, settings)
                    dmix = sum(dl[k] for k in LAYERS)
                    dcurve, drep = master(dmix, project.series.loudness,
                                          tolerance_lu=settings.loudness_tolerance_lu)
                    return ({"master": dmix * dcurve[:, None],
                             "dialogue": dl["dialogue"] * dcurve[:, None]},
                            {"report": drep.model_dump(mode="json")})

                darrays, dinfo = _cached(layer_cache, dub_key, make_dub)
                drep = MasterReport.model_validate(dinfo["report"])
                dm = write(out / "dubs" / lang / "master.wav",
                           lambda darrays=darrays: darrays["master"])
                dd = write(out / "dubs" / lang / "dialogue.wav",
                           lambda darrays=darrays: darrays["dialogue"])
                dub_tracks[lang] = DubTrack(language=lang, master=dm, dialogue=dd,
                                            duration_s=len(darrays["master"]) / SAMPLE_RATE,
                                            report=drep,
                                            cues=dcues,
                                            missing_translations=sum(c.fallback for c in dcues))
        for job in jobs:
            job.result()  # re-raise a failed write here
        result = EpisodeAudio(
            episode=sb.episode, language=language, duration_s=len(mixed) / SAMPLE_RATE,
            out_dir=str(out), master=master_path, stems=stems, me=me,
            music_stems=mstems, report=report, shots=timings, cues=cues,
            effects=[EffectCue(shot_id=c.shot_id, name=c.name, start_s=c.start_s, source=c.source,
                               keyword=c.keyword) for c in fx_cues],
            score=[ActScore(act_id=c.act_id, mood=c.spec.mood, key=c.spec.key, mode=c.spec.mode,
                            tempo_bpm=c.spec.tempo_bpm, instruments=c.spec.instruments,
                            intensity=c.spec.intensity, start_s=round(c.start_s, 4),
                            end_s=round(min(c.end_s, total), 4)) for c in score],
            dubs=dub_tracks, warnings=warnings)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.save()
    step(1.0, "done")
    return result
