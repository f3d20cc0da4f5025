"""Third-party plugins through entry points: a package (a ``.dist-info`` with
``entry_points.txt`` on ``sys.path``, as pip installs it) declares an engine, a scorer and an
exporter; the engine is named in a series' routing.yaml and renders its shots, the scorer
runs in QC, the exporter writes a cut; a plugin that cannot load is a StudioError naming
the group and the distribution. Also: the engine contract's optional capabilities are
protocols (``isinstance``), the defaults live on ``Engine``."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from tiny_sample import sample_copy

from studio_kit.engines.base import (
    ClipEncoder,
    DrawingEngine,
    Engine,
    EngineCapabilities,
    EngineRequest,
    ResumableEngine,
)
from studio_kit.errors import StudioError
from studio_kit.registry import ENGINES, EXPORTERS, SCORERS, TTS, Registry

DIST = "studio-demo-plugins"
VERSION = "0.3.1"
PKG = "studio_demo_plugins"

MODULES = {
    f"{PKG}/__init__.py": '''
        """A third-party engine: the embedded renderer under its own name and model."""
        from studio_kit.engines.local import LocalEngine


        class DemoEngine(LocalEngine):
            name = "demo-local"
            model = "demo-v1"
            capabilities = LocalEngine.capabilities.model_copy(update={"max_prompt_chars": 321})
            renders = 0

            def render(self, request, vault, progress=None, threads=None):
                DemoEngine.renders += 1
                res = super().render(request, vault, progress, threads)
                return res.model_copy(update={"metadata": {**res.metadata,
                                                           "plugin": "studio-demo-plugins"}})
        ''',
    f"{PKG}/scoring.py": '''
        from studio_kit.qc.base import QCScore, Scorer


        class FrameCount(Scorer):
            """How many frames the delivered clip has (always passes: at least one)."""

            name = "demo-frames"

            def score(self, ctx):
                n = float(len(ctx.media.frames))
                return [QCScore(scorer=self.name, metric="demo.frames", value=n,
                                threshold=1.0, direction="min", passed=n >= 1)]
        ''',
    f"{PKG}/exporting.py": '''
        import json
        from pathlib import Path


        class ShotListExporter:
            """The cut as a JSON list of (item id, frames)."""

            name = "demo-shotlist"
            suffix = ".json"

            def export(self, timeline, out):
                out = Path(out)
                rows = [[item.id, item.frames] for item in timeline.items]
                out.write_text(json.dumps(rows), encoding="utf-8")
                return out
        ''',
    f"{PKG}/voice.py": '''
        """A third-party TTS: eSpeak's English under a name of its own, one variant."""
        from studio_kit.audio.tts import get_tts
        from studio_kit.audio.tts.base import TTSEngine, VoiceInfo


        class DemoVoice(TTSEngine):
            name = "demo-tts"

            def voices(self):
                return [VoiceInfo(engine=self.name, id="narrator", name="Narrator",
                                  languages=("en",))]

            def variants(self):
                return ["hushed"]

            def synthesize(self, text, profile, *, language=None):
                return get_tts("espeak").synthesize(text, profile, language=language or "en")
        ''',
    f"{PKG}/broken.py": '''
        import studio_demo_dependency_that_is_not_installed  # noqa: F401
        ''',
    f"{PKG}/quiet.py": '''
        """Imports fine, registers nothing."""


        class NotAnEngine:
            """Names a class that does not implement the contract."""
        ''',
}

ENTRY_POINTS = f"""
[studio_kit.engines]
demo-local = {PKG}:DemoEngine
demo-broken = {PKG}.broken:BrokenEngine
demo-quiet = {PKG}.quiet
demo-not-engine = {PKG}.quiet:NotAnEngine

[studio_kit.tts]
demo-tts = {PKG}.voice:DemoVoice

[studio_kit.scorers]
demo-frames = {PKG}.scoring:FrameCount

[studio_kit.exporters]
demo-shotlist = {PKG}.exporting:ShotListExporter
"""


def write_dist(site: Path) -> None:
    """The package and its ``.dist-info`` as an installer leaves them in site-packages."""
    for rel, text in MODULES.items():
        f = site / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    info = site / f"{DIST.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS.lstrip(), encoding="utf-8")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The demo distribution on sys.path; afterwards its plugins are forgotten."""
    site = tmp_path / "site"
    write_dist(site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for reg in (ENGINES, SCORERS, EXPORTERS, TTS):
        for name, obj in list(reg._items.items()):
            if (getattr(obj, "__module__", "") or "").startswith(PKG):
                del reg._items[name]
    for mod in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[mod]


def test_entry_points_are_listed_without_import(plugins):
    assert "demo-local" in ENGINES
    assert {"demo-local", "demo-broken", "demo-quiet", "local"} <= set(ENGINES.names())
    assert "demo-frames" in SCORERS.names() and "demo-shotlist" in EXPORTERS.names()
    assert PKG not in sys.modules  # listed, not imported
    cls = ENGINES.get("demo-local")
    assert PKG in sys.modules and cls.__name__ == "DemoEngine"
    assert ENGINES.get("demo-local") is cls
    assert ENGINES.get("local").__name__ == "LocalEngine"  # built-ins unaffected


def test_plugin_that_fails_to_load_names_group_and_dist(plugins):
    with pytest.raises(StudioError) as exc:
        ENGINES.get("demo-broken")
    text = str(exc.value)
    assert "engine plugin 'demo-broken' failed to load" in text
    assert "studio_kit.engines" in text and f"{DIST} {VERSION}" in text
    assert "ModuleNotFoundError" in text and "studio_demo_dependency_that_is_not_installed" in text
    assert f"pip uninstall {DIST}" in (exc.value.hint or "")

    with pytest.raises(StudioError, match="registered no engine named 'demo-quiet'") as exc:
        ENGINES.get("demo-quiet")
    assert f"{DIST} {VERSION}" in str(exc.value)

    from studio_kit.engines.factory import get_engine
    from studio_kit.errors import EngineError

    with pytest.raises(EngineError, match="quiet.NotAnEngine, which is not an Engine") as exc:
        get_engine("demo-not-engine")
    assert "Writing a third-party engine" in exc.value.hint


def test_unknown_name_still_clear(plugins):
    with pytest.raises(StudioError, match="unknown engine 'warp'") as exc:
        ENGINES.get("warp")
    assert "demo-local" in exc.value.hint and "studio_kit.engines" in exc.value.hint


def test_entry_points_follow_sys_path(tmp_path, monkeypatch):
    """A package put on sys.path after the registry was first asked is found."""
    reg: Registry = Registry("engine")
    assert "demo-local" not in reg
    site = tmp_path / "late"
    write_dist(site)
    monkeypatch.syspath_prepend(str(site))
    try:
        assert "demo-local" in reg
        assert reg.get("demo-local").__name__ == "DemoEngine"
    finally:
        for mod in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
            del sys.modules[mod]


def test_routing_yaml_names_the_plugin_engine_and_it_renders(plugins, tmp_path):
    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.production.routing import load_rules, route_episode
    from studio_kit.project.series_folder import Project
    from studio_kit.qc.base import load_media
    from studio_kit.qc.runner import figure_regions_for, qc_clip, reference_engine

    root = sample_copy(tmp_path / "series", shots=2)
    (root / "routing.yaml").write_text(yaml.safe_dump(
        {"schema_version": 1, "default": "demo-local", "failover": ["local"]}),
        encoding="utf-8")
    project = Project.load(root)
    load_rules(project)  # the plugin's name validates like a built-in's
    decisions = route_episode(project, "01")
    assert decisions and {d.engine for d in decisions} == {"demo-local"}
    assert reference_engine("demo-local") == "demo-local"  # a DrawingEngine draws its refs

    res = render_episode(root, "01", options=RenderOptions(width=64, height=36,
                                                           prores=False),
                         out_dir=root / "out")
    assert res.shots and {(s.engine, s.model) for s in res.shots} == {("demo-local",
                                                                        "demo-v1")}
    assert ENGINES.get("demo-local").renders == len(res.shots)
    assert Path(res.master).is_file()
    with Project.load(root).ledger() as led:
        calls = led.query("SELECT engine, model, status FROM engine_calls")
    assert {(c["engine"], c["model"], c["status"]) for c in calls} == {
        ("demo-local", "demo-v1", "succeeded")}

    # the third-party scorer, by name, on the plugin engine's clip (references drawn by it)
    shot = res.shots[0]
    request = EngineRequest(spec=project.resolve_shot("01", shot.shot_id), seed=shot.seed,
                            format=res.format)
    vault = Project.load(root).vault()
    report = qc_clip(vault.get(shot.asset), request, "demo-local", vault=vault,
                     scorers=["demo-frames"])
    frames = [sc for sc in report.scores if sc.metric == "demo.frames"]
    assert len(frames) == 1 and frames[0].passed
    assert frames[0].value == round(shot.duration_s * res.format.fps)
    # the clip is the plugin's own drawing: QC takes the figures' regions from the engine
    fn, info = figure_regions_for("demo-local", request, load_media(vault.get(shot.asset)))
    assert fn is not None and info["source"] == "demo-local engine's figure regions"


def test_plugin_exporter_writes_a_cut(plugins, tmp_path, sample_project):
    from studio_kit.edit.timeline import timeline_from_storyboard

    sb = sample_project.storyboard("01")
    fmt = sample_project.series.format
    tl = timeline_from_storyboard(sb, {}, fps=fmt.fps_fraction, width=fmt.width,
                                  height=fmt.height, series_title=sample_project.series.title)
    out = EXPORTERS.get("demo-shotlist")().export(tl, tmp_path / "cut.json")
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert rows == [[item.id, item.frames] for item in tl.items] and rows


# -- the contract: defaults on Engine, optional capabilities as protocols ---------------
class _Plain(Engine):
    name = "plain"
    capabilities = EngineCapabilities(max_duration_s=5, reference_images=True,
                                      max_references=3)

    async def generate(self, request, vault, progress=None):
        raise NotImplementedError


def test_engine_defaults_and_protocols(sample_project):
    from studio_kit.engines.adapters.fal import FalQueueEngine
    from studio_kit.engines.adapters.runway import RunwayEngine
    from studio_kit.engines.local import LocalEngine
    from studio_kit.production.budget import billed_seconds

    plain = _Plain()
    assert plain.key_problem() is None
    assert plain.reference_slots(False) == 3 and plain.reference_slots(True) == 3
    assert billed_seconds(plain, 2.5) == 2.5
    req = EngineRequest(spec=sample_project.resolve_shot("01", "s01-cliff-wide"))
    assert plain.billed_duration(req) == req.duration
    assert plain.capabilities.max_prompt_chars is None

    class Rounded(_Plain):  # renders whole seconds only: bills (and estimates) them
        capabilities = _Plain.capabilities.model_copy(update={"price_per_second": 0.1})

        def billed_duration(self, request):
            return float(-(-request.duration // 1))

    assert billed_seconds(Rounded(), 2.5) == 3.0
    assert Rounded().estimate_cost(req) == pytest.approx(0.1 * -(-req.duration // 1))
    assert not isinstance(plain, ResumableEngine | DrawingEngine | ClipEncoder)

    assert issubclass(LocalEngine, DrawingEngine) and issubclass(LocalEngine, ClipEncoder)
    assert not issubclass(LocalEngine, ResumableEngine)
    assert issubclass(RunwayEngine, ResumableEngine) and issubclass(FalQueueEngine,
                                                                    ResumableEngine)
    assert not issubclass(RunwayEngine, DrawingEngine)
    runway = RunwayEngine(base_url="http://127.0.0.1:9")
    assert billed_seconds(runway, 3.0) == 5.0  # bills the next duration it renders


def test_plugin_capabilities_and_voices(plugins, capsys):
    """The compiler reads a plugin engine's declared prompt limit; a plugin TTS lists its
    voices and variants in ``studio voices`` (TTSEngine.variants: none by default)."""
    from studio_kit.audio.tts import base as tts_base
    from studio_kit.audio.tts import get_tts
    from studio_kit.cli import main
    from studio_kit.prompts.compiler import ENGINE_PROMPT_LIMITS, engine_prompt_limit

    assert engine_prompt_limit("demo-local") == 321
    assert engine_prompt_limit("local") == ENGINE_PROMPT_LIMITS["local"]  # declares none
    try:
        assert main(["voices", "--engine", "demo-tts"]) == 0
        out = capsys.readouterr().out
        assert "Narrator" in out and "voice variants (VoiceProfile.voice): hushed" in out
        assert get_tts("espeak").variants()  # eSpeak's m1..f5
        assert tts_base.TTSEngine.variants(get_tts("demo-tts")) == []  # the default
    finally:
        tts_base._INSTANCES.pop("demo-tts", None)


def test_pip_installed_plugin_routes_from_the_cli(tmp_path):
    """The real thing: the plugin's own pyproject.toml ([project.entry-points]) built and
    installed by pip (offline, into a target folder), then ``studio route`` in a fresh
    process routes the series' shots to it; without the package the same routing.yaml is
    refused with the file and the known engines."""
    import os
    import subprocess

    src = tmp_path / "plugin"
    (src / "src" / "studio_demo_installed").mkdir(parents=True)
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "studio-demo-installed"
        version = "1.2.0"

        [project.entry-points."studio_kit.engines"]
        demo-installed = "studio_demo_installed:DemoEngine"

        [tool.setuptools.packages.find]
        where = ["src"]
        '''), encoding="utf-8")
    (src / "src" / "studio_demo_installed" / "__init__.py").write_text(textwrap.dedent('''
        from studio_kit.engines.local import LocalEngine


        class DemoEngine(LocalEngine):
            name = "demo-installed"
            model = "installed-v1"
        '''), encoding="utf-8")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(src)], check=True,
                   capture_output=True)
    eps = next(target.glob("studio_demo_installed-1.2.0.dist-info")) / "entry_points.txt"
    assert "demo-installed = studio_demo_installed:DemoEngine" in eps.read_text()

    root = sample_copy(tmp_path / "series", shots=2)
    (root / "routing.yaml").write_text(yaml.safe_dump(
        {"schema_version": 1, "default": "demo-installed", "failover": ["local"]}),
        encoding="utf-8")
    studio = [sys.executable, "-c", "from studio_kit.cli import run; run()"]
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}
    out = subprocess.run([*studio, "route", str(root), "01"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "s0" in line]
    assert len(rows) == 2 and all("demo-installed" in r and "default" in r for r in rows)

    env.pop("PYTHONPATH")
    out = subprocess.run([*studio, "route", str(root), "01"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 2
    err = out.stdout + out.stderr
    assert "routing.yaml" in err and "unknown engine 'demo-installed'" in err
    assert "Traceback" not in err
