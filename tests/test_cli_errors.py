"""Every ``studio`` subcommand, given a user mistake, exits 2 with a clear message.

The message names the file (and line/field where there is one) and carries a hint; no
Python traceback is ever shown, and a failing command leaves the user's files as they were.
Each case runs the real ``studio`` console script in its own subprocess, on its own copy of
the sample series (broken in one way). The cases run concurrently (a small pool) because
each interpreter start costs about a second; none of them renders an episode.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
STUDIO = Path(sys.executable).with_name("studio")
TIMEOUT_S = 45
SB01 = Path("episodes/01/storyboard.yaml")


# -- broken copies of the sample series --------------------------------------------------


def _replace(rel: str | Path, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    return apply


def _write(rel: str, data: bytes, append: bool = False) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((path.read_bytes() if append else b"") + data)

    return apply


def _not_series(root: Path) -> None:
    shutil.rmtree(root)
    root.mkdir()
    (root / "notes.txt").write_text("not a series\n")


VARIANTS: dict[str, Callable[[Path], None] | None] = {
    "good": None,
    "not_series": _not_series,
    "yaml_syntax": _replace("series.yaml", "title: The", "title: [The"),
    "unknown_field": _write("scenes/lamp_room.yaml", b"colour_grade: warm\n", append=True),
    "invalid_angle": _replace(SB01, "angle: extreme_wide", "angle: sideways"),
    "unknown_character": _replace(SB01, "character: mara", "character: marra"),
    "unknown_scene": _replace(SB01, "scene: lamp_room", "scene: lamp_rom"),
    "binary_yaml": _write("characters/theo.yaml", bytes(range(256)) * 4),
    "empty_yaml": _write("scenes/cliff_path.yaml", b""),
    "control_char_yaml": _write("series.yaml", b"notes: a\x01b\n", append=True),
    "duplicate_key": _write("series.yaml", b"title: Another title\n", append=True),
    "routing_syntax": _write("routing.yaml", b"rules: [\n"),
    "routing_engine": _replace("routing.yaml", "engine: kling", "engine: klingon"),
    "corrupt_ledger": _write(".studio/ledger.sqlite", b"this is not a database\n" * 200),
    "no_storyboard": _write("episodes/03/script.fountain", b""),
    "duplicate_shot": _replace(SB01, "id: s02-cliff-mara", "id: s01-cliff-wide"),
    "rendered_unreviewed": lambda root: _rendered_unreviewed(root),
}


def _rendered_unreviewed(root: Path) -> None:
    """Episode 01 with a render record and a master nobody reviewed at Gate C, and a
    feature (features/f.yaml) made of it."""
    import json

    out = root / "out" / "episode-01"
    out.mkdir(parents=True)
    (out / "master.mp4").write_bytes(b"a master (only its hash is read before Gate C)\n")
    (out / "render.json").write_text(json.dumps({
        "master": str(out / "master.mp4"), "duration_s": 12.0,
        "format": {"width": 64, "height": 36, "fps": 24}}))
    (root / "features").mkdir()
    (root / "features" / "f.yaml").write_text(
        "id: f\ntitle: F\nformat: anthology\nsources:\n  - series: .\n    episode: '01'\n")

# what each broken variant's message must name (after whitespace is normalised)
EXPECT: dict[str, list[str]] = {
    "not_series": ["no series.yaml", "hint:"],
    "yaml_syntax": ["series.yaml:3", "malformed YAML", "hint:"],
    "unknown_field": ["lamp_room.yaml:17", "[colour_grade]", "hint:"],
    "invalid_angle": ["storyboard.yaml:21", "camera.angle", "'extreme_wide'", "hint:"],
    "unknown_character": ["storyboard.yaml:16", "unknown character 'marra'", "hint:"],
    "unknown_scene": ["storyboard.yaml:", "unknown scene 'lamp_rom'", "hint:"],
    "binary_yaml": ["theo.yaml", "not UTF-8", "hint:"],
    "empty_yaml": ["cliff_path.yaml", "empty", "hint:"],
    "control_char_yaml": ["series.yaml:11", "hint:"],
    "duplicate_key": ["series.yaml:11", "title", "hint:"],
    "routing_syntax": ["routing.yaml:", "malformed YAML", "hint:"],
    "routing_engine": ["routing.yaml:", "klingon", "hint:"],
    "corrupt_ledger": ["ledger.sqlite", "hint:"],
    "duplicate_shot": ["storyboard.yaml:30", "'s01-cliff-wide' appears twice",
                       "first at line 13", "hint:"],
}


@dataclass
class Case:
    id: str
    args: list[str]  # {p} = the project copy, {tmp} = a scratch folder, {bin} = a binary file
    variant: str = "good"
    expect: list[str] = field(default_factory=list)
    usage: bool = False  # a click usage error: "Usage:" and code 2, no hint required


def _project_cases() -> list[Case]:
    """Every command that reads a series, on a non-series folder and on one broken file."""
    cmds: dict[str, tuple[list[str], list[str]]] = {
        # command: (args, broken variants to run it on)
        "validate": (["validate", "{p}"],
                     ["yaml_syntax", "unknown_field", "invalid_angle", "binary_yaml",
                      "empty_yaml", "control_char_yaml", "duplicate_key", "routing_engine"]),
        "storyboard": (["storyboard", "{p}", "01"], ["unknown_character", "duplicate_shot"]),
        "status": (["status", "{p}"], ["unknown_scene", "corrupt_ledger"]),
        "prompts": (["prompts", "{p}", "01"], ["invalid_angle"]),
        "qc": (["qc", "{p}", "01"], ["unknown_field", "corrupt_ledger"]),
        "gate": (["gate", "{p}", "01", "--gate", "B"], ["yaml_syntax", "corrupt_ledger"]),
        "route": (["route", "{p}", "01"], ["routing_syntax", "routing_engine"]),
        "estimate": (["estimate", "{p}", "01"], ["routing_engine", "corrupt_ledger"]),
        "approve": (["approve", "{p}", "01", "--who", "qa"], ["unknown_character"]),
        "mix": (["mix", "{p}", "01", "--out", "{tmp}/mix"], ["unknown_scene"]),
        "render": (["render", "{p}", "01", "--width", "160", "--height", "90",
                    "--out", "{tmp}/out"], ["invalid_angle"]),
        "render-shot": (["render-shot", "{p}", "01", "s01-cliff-wide", "-o", "{tmp}/s.mp4",
                         "--width", "160", "--height", "90"], ["binary_yaml"]),
        "preview": (["preview", "{p}", "--scene", "lamp_room", "--width", "160",
                     "--height", "90", "-o", "{tmp}/p.png"], ["unknown_field"]),
        "export-otio": (["export-otio", "{p}", "01", "-o", "{tmp}/cut.otio"], ["empty_yaml"]),
        "say": (["say", "{p}", "mara", "hello", "-o", "{tmp}/say.wav"], ["yaml_syntax"]),
        "serve": (["serve", "{p}", "--port", "1"], ["unknown_scene"]),
        "import-script": (["import-script", "{p}", str(SAMPLE / "episodes/01/script.fountain"),
                           "-e", "05"], ["yaml_syntax"]),
    }
    out = []
    for name, (args, variants) in cmds.items():
        for variant in ["not_series", *variants]:
            exp = EXPECT[variant]
            if name == "import-script" and variant == "not_series":
                exp = ["no series.yaml", "--new"]
            out.append(Case(f"{name}-{variant}", args, variant, exp))
    return out


CASES: list[Case] = _project_cases() + [
    # unknown episode / shot / scene / character
    Case("storyboard-unknown-episode", ["storyboard", "{p}", "07"],
         expect=["episodes", "no episode '07'", "hint:", "01, 02"]),
    Case("render-unknown-episode", ["render", "{p}", "07", "--width", "160", "--height", "90",
                                    "--out", "{tmp}/out"], expect=["no episode '07'", "hint:"]),
    Case("render-season-unknown-episode", ["render-season", "{p}", "--episodes", "01-07"],
         expect=["--episodes", "no episode 03", "hint:", "01, 02"]),
    Case("render-season-unreachable-scheduler",
         ["render-season", "{p}", "--episodes", "01", "--scheduler", "tcp://127.0.0.1:9",
          "--out", "{tmp}/out"], expect=["--scheduler", "not reachable", "hint:"]),
    Case("mix-unknown-episode", ["mix", "{p}", "07"], expect=["no episode '07'", "hint:"]),
    Case("export-otio-unknown-episode", ["export-otio", "{p}", "9", "-o", "{tmp}/c.otio"],
         expect=["no episode '9'", "hint:"]),
    Case("storyboard-episode-without-storyboard", ["storyboard", "{p}", "03"],
         variant="no_storyboard", expect=["episodes/03/storyboard.yaml", "no storyboard",
                                          "hint:", "import-script"]),
    Case("render-shot-unknown-shot", ["render-shot", "{p}", "01", "s99-nowhere", "-o",
                                      "{tmp}/s.mp4"],
         expect=["storyboard.yaml", "no shot 's99-nowhere'", "hint:", "s01-cliff-wide"]),
    Case("preview-unknown-shot", ["preview", "{p}", "--shot", "s99", "-o", "{tmp}/p.png"],
         expect=["storyboard.yaml", "no shot 's99'", "hint:"]),
    Case("preview-unknown-scene", ["preview", "{p}", "--scene", "attic", "-o", "{tmp}/p.png"],
         expect=["scenes", "unknown scene 'attic'", "hint:", "lamp_room"]),
    Case("preview-nothing", ["preview", "{p}", "-o", "{tmp}/p.png"],
         expect=["--scene", "hint:"]),
    Case("gate-unknown-shot", ["gate", "{p}", "01", "--gate", "B", "--shot", "s99",
                               "--approve", "--who", "qa"], expect=["s99", "hint:"]),
    Case("route-set-unknown-shot", ["route", "{p}", "01", "--set", "s99=local"],
         expect=["storyboard.yaml", "no shot 's99'", "hint:"]),
    Case("say-unknown-character", ["say", "{p}", "nobody", "hi", "-o", "{tmp}/x.wav"],
         expect=["characters", "unknown character 'nobody'", "hint:", "mara"]),
    # scripts: empty, binary, not UTF-8, missing, a folder
    Case("import-empty-script", ["import-script", "{p}", "{tmp}/empty.fountain", "-e", "05"],
         expect=["empty.fountain", "empty", "hint:"]),
    Case("import-binary-script", ["import-script", "{p}", "{bin}", "-e", "05"],
         expect=["blob.fountain", "binary", "hint:"]),
    Case("import-latin1-script", ["import-script", "{p}", "{tmp}/latin1.fountain", "-e", "05"],
         expect=["latin1.fountain:3", "UTF-8", "hint:"]),
    Case("import-missing-script", ["import-script", "{p}", "{tmp}/nope.fountain", "-e", "05"],
         expect=["nope.fountain", "not found", "hint:"]),
    Case("import-folder-as-script", ["import-script", "{p}", "{tmp}", "-e", "05"],
         expect=["hint:"]),
    Case("import-bad-episode", ["import-script", "{p}", "{tmp}/empty.fountain", "-e", "abc"],
         expect=["episode", "'abc'", "hint:"]),
    Case("import-episode-zero", ["import-script", "{p}", "{tmp}/empty.fountain", "-e", "0"],
         expect=["episode", "'0'", "numbered from 1", "hint:"]),
    Case("import-episode-superscript", ["import-script", "{p}", "{tmp}/empty.fountain", "-e",
                                        "\u00b2"], expect=["episode", "not an episode number",
                                                            "hint:"]),
    Case("route-set-not-shot-equals-engine", ["route", "{p}", "01", "--set", "garbage"],
         expect=["--set", "'garbage' is not of the form SHOT=ENGINE", "hint:"]),
    Case("route-set-no-shot", ["route", "{p}", "01", "--set", "=local"],
         expect=["--set", "'=local' is not of the form SHOT=ENGINE", "hint:"]),
    Case("import-new-over-series", ["import-script", "{p}", str(SAMPLE / "episodes/01/"
                                    "script.fountain"), "--new"],
         expect=["series.yaml", "already exists", "hint:"]),
    # nonexistent files and folders
    Case("probe-missing", ["probe", "{tmp}/none.mp4"], expect=["none.mp4", "not found", "hint:"]),
    Case("probe-not-media", ["probe", "{bin}"], expect=["blob.fountain", "hint:"]),
    Case("render-missing-project", ["render", "{tmp}/nowhere", "01"],
         expect=["nowhere", "not found", "hint:"]),
    Case("validate-missing-project", ["validate", "{tmp}/nowhere"],
         expect=["nowhere", "hint:"]),
    Case("vault-verify-missing-project", ["vault", "verify", "{tmp}/nowhere"],
         expect=["nowhere", "hint:"]),
    Case("vault-gc-missing-project", ["vault", "gc", "{tmp}/nowhere", "--yes"],
         expect=["nowhere", "hint:"]),
    Case("export-otio-missing-clips", ["export-otio", "{p}", "01", "-o", "{tmp}/c.otio",
                                       "--clips", "{tmp}/noclips"],
         expect=["noclips", "hint:"]),
    Case("gate-c-missing-master", ["gate", "{p}", "01", "--gate", "C", "--master",
                                   "{tmp}/none.mp4", "--approve", "--who", "qa"],
         expect=["none.mp4", "hint:"]),
    Case("serve-missing-notebooks", ["serve", "{p}", "--notebooks", "{tmp}/nonb"],
         expect=["nonb", "hint:"]),
    Case("new-non-empty-folder", ["new", "{p}"], expect=["not empty", "hint:"]),
    Case("schema-check-stale", ["schema", "--check", "--out", "{tmp}/noschema"],
         expect=["noschema", "out of date", "hint:"]),
    Case("new-on-a-file", ["new", "{tmp}/empty.fountain"], expect=["empty.fountain", "hint:"]),
    Case("say-output-under-a-file", ["say", "{p}", "mara", "hi", "-o",
                                     "{tmp}/empty.fountain/x.wav"],
         expect=["empty.fountain", "hint:"]),
    Case("mix-out-is-a-file", ["mix", "{p}", "01", "--out", "{tmp}/empty.fountain"],
         expect=["empty.fountain", "hint:"]),
    Case("demo-out-is-a-file", ["demo", "--out", "{tmp}/empty.fountain"],
         expect=["empty.fountain", "hint:"]),
    # bad option values
    Case("render-bad-tier", ["render", "{p}", "01", "--tier", "gold"],
         expect=["--tier", "hint:", "draft"]),
    Case("render-odd-size", ["render", "{p}", "01", "--width", "161", "--height", "91"],
         expect=["161x91", "hint:"]),
    Case("render-zero-width", ["render", "{p}", "01", "--width", "0", "--height", "90",
                               "--out", "{tmp}/out"], expect=["width", "hint:"]),
    Case("render-unknown-engine", ["render", "{p}", "01", "--engine", "warp", "--width", "160",
                                   "--height", "90", "--out", "{tmp}/out"],
         expect=["unknown engine 'warp'", "hint:", "local"]),
    Case("render-shot-negative-size", ["render-shot", "{p}", "01", "s01-cliff-wide", "-o",
                                       "{tmp}/s.mp4", "--width", "-4", "--height", "90"],
         expect=["-4x90", "hint:"]),
    Case("render-shot-drift-out-of-range", ["render-shot", "{p}", "01", "s01-cliff-wide",
                                            "-o", "{tmp}/s.mp4", "--drift", "5",
                                            "--width", "32", "--height", "18"],
         expect=["drift", "hint:"]),
    Case("preview-zero-width", ["preview", "{p}", "--scene", "lamp_room", "--width", "0",
                                "-o", "{tmp}/p.png"], expect=["width", "hint:"]),
    Case("preview-not-a-number", ["preview", "{p}", "--scene", "lamp_room", "--width",
                                  "wide", "-o", "{tmp}/p.png"],
         expect=["--width", "integer"], usage=True),
    Case("qc-bad-tier", ["qc", "{p}", "01", "--tier", "gold"], expect=["tier", "hint:"]),
    Case("gate-unknown-gate", ["gate", "{p}", "01", "--gate", "X"],
         expect=["--gate", "unknown gate 'X'", "hint:"]),
    Case("gate-b-decision-without-shot", ["gate", "{p}", "01", "--gate", "B", "--approve"],
         expect=["--shot", "hint:"]),
    Case("approve-unknown-gate", ["approve", "{p}", "01", "--gate", "Z", "--who", "qa"],
         expect=["--gate", "hint:"]),
    Case("route-set-unknown-engine", ["route", "{p}", "01", "--set", "s01-cliff-wide=warp"],
         expect=["--set", "unknown engine 'warp'", "hint:"]),
    Case("prompts-unknown-engine", ["prompts", "{p}", "01", "--engine", "warp"],
         expect=["warp", "hint:"]),
    Case("say-unknown-language", ["say", "{p}", "mara", "hello", "-l", "xx-nope", "-o",
                                  "{tmp}/x.wav"], expect=["xx-nope", "hint:"]),
    Case("say-nothing-to-say", ["say", "{p}", "mara", "", "-o", "{tmp}/x.wav"],
         expect=["text", "hint:"]),
    Case("mix-unknown-language", ["mix", "{p}", "01", "-l", "qq", "--out", "{tmp}/mix"],
         expect=["'qq'", "hint:"]),
    Case("voices-unknown-engine", ["voices", "--engine", "nope"],
         expect=["unknown tts 'nope'", "hint:", "espeak"]),
    Case("voices-unknown-language", ["voices", "-l", "qq"], expect=["'qq'", "hint:"]),
    Case("voices-elevenlabs-without-key", ["voices", "--engine", "elevenlabs"],
         expect=["ELEVENLABS_API_KEY", "hint:"]),
    Case("feature-validate-missing", ["feature", "validate", "{tmp}/features/none.yaml"],
         expect=["none.yaml", "no such feature file", "hint:"]),
    Case("feature-assemble-binary", ["feature", "assemble", "{bin}", "-o", "{tmp}/f.mp4"],
         expect=["not UTF-8", "hint:"]),
    Case("feature-export-bad-field", ["feature", "export", "{tmp}/nope.yaml", "-o",
                                      "{tmp}/deliver"], expect=["nope.yaml", "hint:"]),
    Case("feature-export-without-gate-c", ["feature", "export", "{p}/features/f.yaml", "-o",
                                           "{tmp}/deliver"], variant="rendered_unreviewed",
         expect=["master.mp4", "has not been reviewed", "nothing is put in a feature without "
                 "Gate C", "hint:", "--gate C", "--draft"]),
    Case("dcp-missing-master", ["dcp", "{tmp}/nope.mov", "{tmp}/DCP", "--title", "T"],
         expect=["nope.mov", "file not found", "hint:"]),
    Case("dcp-not-media", ["dcp", "{bin}", "{tmp}/DCP", "--title", "T"],
         expect=["cannot read the picture", "hint:"]),
    Case("dcp-subtitles-not-lang-file", ["dcp", "{bin}", "{tmp}/DCP", "--title", "T",
                                         "--subtitles", "captions.srt"],
         expect=["--subtitles 'captions.srt' is not LANG=FILE", "hint:"]),
    Case("dcp-bad-container", ["dcp", "{bin}", "{tmp}/DCP", "--title", "T", "--container",
                               "imax"], expect=["container", "'imax'", "hint:"]),
    Case("export-timeline-unknown-episode", ["export-timeline", "{p}", "07", "-o",
                                             "{tmp}/c.otio"], expect=["no episode '07'", "hint:"]),
    Case("import-timeline-missing", ["import-timeline", "{p}", "01", "{tmp}/nope.otio"],
         expect=["nope.otio", "hint:"]),
    Case("export-timeline-bad-format", ["export-timeline", "{p}", "01", "-o", "{tmp}/c",
                                        "--format", "aaf"], expect=["'aaf'", "fcpx", "hint:"]),
    Case("export-timeline-format-vs-suffix", ["export-timeline", "{p}", "01", "-o",
                                              "{tmp}/c.edl", "--format", "fcpx"],
         expect=["--format fcpx", ".fcpxml", "hint:"]),
    Case("publish-without-gate-c", ["publish", "{p}", "01", "{p}/published.mp4", "--master",
                                    "{bin}"],
         expect=["blob.fountain", "has not been reviewed", "nothing is published without "
                 "Gate C", "hint:", "--gate C"]),
    Case("deliver-unknown-platform", ["deliver", "{p}", "01", "--platform", "vine"],
         expect=["unknown platform 'vine'", "hint:"]),
    Case("deliver-without-render", ["deliver", "{p}", "01", "--platform", "shorts", "-o",
                                    "{tmp}/d"], expect=["no successful render", "hint:"]),
    Case("deliver-empty-thumbnail-title", ["deliver", "{p}", "01", "-p", "shorts",
                                           "--thumbnail-title", "  "],
         expect=["thumbnail title is empty", "--thumbnail-title", "hint:"]),
    Case("cutdown-unknown-kind", ["cutdown", "{p}", "01", "--kind", "blooper"],
         expect=["unknown cut-down kind 'blooper'", "--kind", "hint:", "teaser"]),
    Case("cutdown-bad-length", ["cutdown", "{p}", "01", "--kind", "teaser", "--length", "-5"],
         expect=["a teaser of -5 s", "--length", "hint:"]),
    Case("cutdown-unknown-platform", ["cutdown", "{p}", "01", "--platform", "vine"],
         expect=["unknown platform 'vine'", "hint:"]),
    Case("cutdown-without-render", ["cutdown", "{p}", "01", "--kind", "vertical", "-o",
                                    "{tmp}/c"], expect=["no successful render", "hint:"]),
    # click usage errors
    Case("unknown-command", ["rendr", "{p}"], expect=["rendr"], usage=True),
    # a bad STUDIO_* value is settings' real user error: tests/test_settings.py runs it
    Case("settings-unknown-option", ["settings", "--all"], expect=["--all"], usage=True),
    Case("missing-argument", ["render-shot", "{p}", "01"], expect=["'shot'"], usage=True),
    Case("missing-required-option", ["preview", "{p}", "--scene", "lamp_room"],
         expect=["--out"], usage=True),
]


# -- running ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not any(s in k for s in ("API_KEY", "API_TOKEN", "FAL_KEY", "SECRET"))}
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    return env


def _snapshot(root: Path) -> dict[str, str]:
    """Hashes of the user's files (the .studio cache is the studio's, not the user's)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".studio" not in p.relative_to(root).parts}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]


def _run(case: Case, base: Path) -> Outcome:
    work = base / case.id
    project, tmp = work / "lighthouse", work / "tmp"
    tmp.mkdir(parents=True)
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns(".studio"))
    make = VARIANTS[case.variant]
    if make is not None:
        make(project)
    (tmp / "empty.fountain").write_bytes(b"")
    (tmp / "latin1.fountain").write_bytes(b"INT. CAFE - DAY\n\nCaf\xe9 au lait.\n")
    (tmp / "blob.fountain").write_bytes(bytes(range(256)) * 16)
    args = [a.format(p=project, tmp=tmp, bin=tmp / "blob.fountain") for a in case.args]
    before = _snapshot(project)
    proc = subprocess.Popen([str(STUDIO), *args], cwd=work, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and any ffmpeg it started
        out, err = proc.communicate()
        err += f"\n[test] timed out after {TIMEOUT_S} s: the mistake was not caught early"
    return Outcome(proc.returncode, out, err, before, _snapshot(project))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[Outcome]]:
    base = tmp_path_factory.mktemp("cli-errors")
    pool = ThreadPoolExecutor(max_workers=4)
    futures = {c.id: pool.submit(_run, c, base) for c in CASES}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_command_is_covered() -> None:
    proc = subprocess.run([str(STUDIO), "--help"], capture_output=True, text=True,
                          env=_env(), timeout=60)
    listed = {line.split()[1] for line in proc.stdout.splitlines()
              if line.startswith("│ ") and line[2:3].isalpha() and len(line.split()) > 2
              and not line.split()[1].startswith("-")}
    covered = {c.args[0] for c in CASES}
    assert listed, proc.stdout
    assert listed - covered == set(), f"commands without an error test: {listed - covered}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mistake_gives_clear_error(case: Case, outcomes: dict[str, Future[Outcome]]) -> None:
    res = outcomes[case.id].result()
    err = " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-2500:]
    assert res.code == 2, f"exit {res.code}\n{res.stderr[-2500:]}"
    if case.usage:
        assert "Usage:" in res.stderr or "Error" in res.stderr, err
    else:
        assert err.startswith("error:") or "\nerror:" in res.stderr, err[-2000:]
    for want in case.expect:
        assert want in err, f"{want!r} not in: {err[-2000:]}"
    # nothing is lost: the user's files are exactly as they were
    assert res.after == res.before, {k for k in res.before.keys() | res.after.keys()
                                     if res.before.get(k) != res.after.get(k)}
