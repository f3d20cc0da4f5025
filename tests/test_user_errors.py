"""Library entry points given bad input raise a StudioError naming the file and a fix,
and keep the user's data (no bare KeyError / ValueError / sqlite / yaml errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_kit.errors import StudioError
from studio_kit.store.ledger import Ledger
from studio_kit.store.yamlio import load_yaml


def test_corrupt_ledger_is_a_studio_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / ".studio" / "ledger.sqlite"
    path.parent.mkdir()
    junk = b"not a database at all\n" * 100
    path.write_bytes(junk)
    with pytest.raises(StudioError) as info:
        Ledger(path)
    assert info.value.file == str(path) and "move it aside" in (info.value.hint or "")
    assert path.read_bytes() == junk  # nothing is lost


@pytest.mark.parametrize(("text", "want"), [
    (b"title: a\ntitle: b\n", "appears twice"),
    (b"acts:\n  - id: a\n    id: b\n", "appears twice"),
    (b"title: a\x01b\n", "control"),
    (b"title: [a\n", "malformed YAML"),
])
def test_yaml_mistakes_name_file_and_line(tmp_path: Path, text: bytes, want: str) -> None:
    path = tmp_path / "series.yaml"
    path.write_bytes(text)
    with pytest.raises(StudioError) as info:
        load_yaml(path)
    assert want in str(info.value) and info.value.file == str(path)
    assert info.value.line is not None and info.value.hint


def test_yaml_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "scene.yaml").mkdir()
    with pytest.raises(StudioError, match="cannot read"):
        load_yaml(tmp_path / "scene.yaml")


def test_unknown_shot_lists_the_shots(sample_project) -> None:
    with pytest.raises(StudioError) as info:
        sample_project.resolve_shot("01", "s99")
    assert "s01-cliff-wide" in (info.value.hint or "")


def test_verify_missing_file(tmp_path: Path) -> None:
    from studio_kit.provenance import verify

    with pytest.raises(StudioError) as info:
        verify(tmp_path / "none.mp4")
    assert info.value.file == str(tmp_path / "none.mp4")


def test_compile_for_unknown_engine(sample_project) -> None:
    from studio_kit.prompts import compile_episode

    with pytest.raises(StudioError, match="warp"):
        compile_episode(sample_project, "01", engine="warp")


def test_render_options_zero_width_and_unknown_engine_fail_before_work(sample_dir) -> None:
    from studio_kit.pipeline import RenderOptions, render_episode

    with pytest.raises(StudioError, match="0x90"):
        render_episode(sample_dir, "01", options=RenderOptions(width=0, height=90),
                       out_dir=sample_dir / "out")
    with pytest.raises(StudioError, match="unknown engine 'warp'"):
        render_episode(sample_dir, "01", options=RenderOptions(engine="warp", width=160,
                                                               height=90),
                       out_dir=sample_dir / "out")
    ledger = sample_dir / ".studio" / "ledger.sqlite"
    if ledger.exists():  # no stage ran before the mistake was reported
        with Ledger(ledger) as led:
            assert led.query("SELECT COUNT(*) AS n FROM stage_results")[0]["n"] == 0


# -- issue 13: hostile project files ---------------------------------------------------
ALIAS_BOMB = (
    "a: &a [x,x,x,x,x,x,x,x,x]\n"
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def test_yaml_alias_bomb_fails_fast(sample_dir: Path) -> None:
    import time

    from studio_kit.project.series_folder import Project

    path = sample_dir / "series.yaml"
    path.write_text(path.read_text(encoding="utf-8") + ALIAS_BOMB, encoding="utf-8")
    t0 = time.monotonic()
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    assert time.monotonic() - t0 < 1.0
    text = str(info.value)
    assert "anchor &a is not allowed" in text and "hint:" in text
    assert info.value.file == str(path) and info.value.line is not None


def test_yaml_text_with_ampersand_and_star_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text('title: "Salt & Light *"\nnote: fish & chips\n', encoding="utf-8")
    assert load_yaml(path)[0] == {"title": "Salt & Light *", "note": "fish & chips"}


def _set_refs(sample_dir: Path, images: list[str]) -> Path:
    import yaml

    path = sample_dir / "characters" / "mara.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["reference_images"] = images
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_reference_outside_the_series_is_refused_at_validate(sample_dir: Path, tmp_path: Path,
                                                             kind: str) -> None:
    from studio_kit.project.series_folder import Project

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not yours")
    name = {"absolute": "/etc/passwd", "dotdot": "../secret.png",
            "symlink": "characters/mara/face.png"}[kind]
    if kind == "symlink":
        (sample_dir / "characters" / "mara").mkdir()
        (sample_dir / name).symlink_to(secret)
    path = _set_refs(sample_dir, [name])
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    probs = [p for p in info.value.problems if p.field == "reference_images.0"]
    assert probs, str(info.value)
    p = probs[0]
    assert p.file == str(path) and p.line is not None and p.hint
    assert "outside the series folder" in p.message or "leaves the series folder" in p.message


def test_reference_inside_the_series_and_allowed_root_validates(sample_dir: Path,
                                                               tmp_path: Path,
                                                               monkeypatch) -> None:
    from studio_kit.project.series_folder import Project

    (sample_dir / "characters" / "mara").mkdir()
    (sample_dir / "characters" / "mara" / "a.png").write_bytes(b"x")
    library = tmp_path / "library"
    library.mkdir()
    (library / "b.png").write_bytes(b"y")
    (sample_dir / "characters" / "mara" / "b.png").symlink_to(library / "b.png")
    _set_refs(sample_dir, ["characters/mara/a.png", "characters/mara/b.png"])
    with pytest.raises(StudioError, match="symlink"):
        Project.load(sample_dir)
    monkeypatch.setenv("STUDIO_ASSET_ROOTS", str(library))
    proj = Project.load(sample_dir)
    assert proj.file("characters/mara/b.png") == (library / "b.png").resolve()
    monkeypatch.delenv("STUDIO_ASSET_ROOTS")
    with pytest.raises(StudioError, match="outside the series folder"):
        proj.file("/etc/passwd")


def test_look_lut_outside_is_refused(sample_dir: Path) -> None:
    from studio_kit.project.series_folder import Project

    path = sample_dir / "series.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "look_lut: ../../look.cube\n",
                    encoding="utf-8")
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    assert any(p.field == "look_lut" and p.line for p in info.value.problems)


def test_storyboard_episode_must_match_its_folder(sample_dir: Path) -> None:
    from studio_kit.project.series_folder import Project

    path = sample_dir / "episodes" / "02" / "storyboard.yaml"
    text = path.read_text(encoding="utf-8")
    assert "episode: '02'" in text or 'episode: "02"' in text
    path.write_text(text.replace("episode: '02'", "episode: '01'")
                    .replace('episode: "02"', "episode: '01'"), encoding="utf-8")
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    probs = [p for p in info.value.problems if p.field == "episode"]
    assert probs and probs[0].file == str(path) and probs[0].line
    assert "episodes/02" in probs[0].message and "set episode: '02'" in (probs[0].hint or "")


def test_pattern_errors_are_in_words_with_a_hint(sample_dir: Path) -> None:
    from studio_kit.project.series_folder import Project

    path = sample_dir / "episodes" / "02" / "storyboard.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("episode: '02'", "episode: 'two'")
                    .replace('episode: "02"', "episode: 'two'"), encoding="utf-8")
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    text = str(info.value)
    assert "two or three digits" in text and "^[" not in text
    assert all(p.hint for p in info.value.problems), text


def test_error_without_a_file_has_no_input_placeholder() -> None:
    from studio_kit.engines.adapters.errors import ServerError

    err = ServerError("runway: 500 from the engine", engine="runway")
    assert str(err) == "runway: 500 from the engine"
    assert str(StudioError("x", line=3)) == "line 3: x"


def test_every_studio_error_raised_in_the_kit_carries_a_hint_or_is_internal() -> None:
    """The project's own user-facing raises (files this test guards) name a fix."""
    import ast

    root = Path(__file__).resolve().parents[1] / "studio_kit"
    names = {"StudioError", "ValidationFailed", "ScriptError", "VaultError", "EngineError",
             "EngineUserError", "EngineOperationalError", "BudgetError"}
    missing = []
    for rel in ("project/series_folder.py", "store/yamlio.py", "store/vault.py",
                "production/generation.py", "store/ledger.py", "surfaces/status.py",
                "production/budget.py", "cli/vault_commands.py"):
        f = root / rel
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                fn = node.exc.func
                name = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", None)
                kws = {k.arg for k in node.exc.keywords}
                if name in names and not kws & {"hint", "problems", None}:
                    missing.append(f"{rel}:{node.lineno}")
    assert not missing, missing


def test_lora_training_refuses_a_reference_outside_the_series(sample_project, keys) -> None:
    """Even on a project loaded without the reference checks, training uploads nothing from
    outside the series folder."""
    from studio_kit.asyncrun import run_sync
    from studio_kit.production.training import TrainingSettings, train_character_lora

    ch = sample_project.characters["mara"]
    sample_project.characters["mara"] = ch.model_copy(
        update={"reference_images": ["/etc/passwd", "/etc/hostname"]})
    with pytest.raises(StudioError, match="outside the series folder"):
        # run_sync: a browser test earlier in the session may leave a loop running
        run_sync(train_character_lora(sample_project, "mara",
                                      TrainingSettings(destination="me/mara"), save=False))
