"""Prompt compiler (snapshot-stable, changes only with its inputs) and linter faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_kit.prompts import (
    CompiledPrompt,
    PromptPolicy,
    compile_episode,
    compile_prompt,
    diff_prompts,
    lint_prompt,
    load_compiled,
    prompt_path,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "prompts_episode01.json"


def _compile_all(project) -> dict[str, dict]:
    return {cp.shot_id: {"prompt": cp.prompt, "negative": cp.negative_prompt,
                         "inputs_hash": cp.inputs_hash}
            for cp in compile_episode(project, "01", save=False)}


def test_compiled_prompts_match_snapshot(sample_project):
    got = _compile_all(sample_project)
    if not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
        pytest.fail(f"snapshot written to {SNAPSHOT}: review it, commit it, run again")
    want = json.loads(SNAPSHOT.read_text())
    assert got == want


def test_compile_is_deterministic_and_changes_only_with_inputs(sample_project):
    spec = sample_project.resolve_shot("01", "s02-cliff-mara")
    a = compile_prompt(spec, "local")
    assert compile_prompt(spec, "local") == a
    # a different shot that shares nothing relevant does not affect this prompt
    other = sample_project.resolve_shot("01", "s07-cafe-wide")
    assert compile_prompt(other, "local").prompt != a.prompt
    # change the bible: hair colour -> the prompt and its input hash change
    mara = sample_project.characters["mara"]
    mara.appearance.hair_colour = "#d8b25a"
    spec2 = sample_project.resolve_shot("01", "s02-cliff-mara")
    b = compile_prompt(spec2, "local")
    assert b.inputs_hash != a.inputs_hash
    assert "blonde ponytail hair" in b.prompt and "auburn" not in b.prompt
    diff = diff_prompts(a, b)
    assert "-" in diff and "blonde" in diff


def test_outfit_follows_wardrobe_rules(sample_project):
    cafe = compile_prompt(sample_project.resolve_shot("01", "s08-cafe-mara"), "local")
    cliff = compile_prompt(sample_project.resolve_shot("01", "s02-cliff-mara"), "local")
    assert "pea coat" in cafe.prompt and "oilskin jacket" not in cafe.prompt
    assert "oilskin jacket" in cliff.prompt


def test_engine_limits_drop_optional_sections_first(sample_project):
    spec = sample_project.resolve_shot("01", "s04-lamp-mara")
    long = compile_prompt(spec, "local")
    short = compile_prompt(spec, "local", max_chars=500)
    assert len(short.prompt) <= 500 < len(long.prompt)
    dropped = {s.name for s in short.sections if s.dropped}
    assert "style" in dropped
    for tokens in short.identity_tokens.values():
        for token in tokens:
            assert token.lower() in short.prompt.lower()
    assert compile_prompt(spec, "runway").max_chars == 1000
    assert lint_prompt(short, spec) == []


def test_stored_prompt_is_diffable_json(sample_project, tmp_path):
    cps = compile_episode(sample_project, "01", save=True)
    path = prompt_path(sample_project.root, "01", cps[0].shot_id, "local")
    text = path.read_text()
    assert text.endswith("\n") and '"prompt":' in text and text.count("\n") > 10
    assert load_compiled(path) == cps[0]


def test_clean_episode_lints_clean(sample_project):
    for cp in compile_episode(sample_project, "01", save=False):
        spec = sample_project.resolve_shot("01", cp.shot_id)
        assert lint_prompt(cp, spec) == [], cp.shot_id


def _edit(cp: CompiledPrompt, text: str) -> CompiledPrompt:
    return cp.model_copy(update={"prompt": text})


@pytest.fixture
def compiled(sample_project):
    spec = sample_project.resolve_shot("01", "s04-lamp-mara")
    return spec, compile_prompt(spec, "local")


def kinds(problems) -> set[str]:
    return {p.kind for p in problems}


def test_lint_conflicting_time_of_day(compiled):
    spec, cp = compiled
    problems = lint_prompt(_edit(cp, cp.prompt + " Bright midday sun."), spec)
    assert kinds(problems) == {"conflict"}
    assert "time of day" in problems[0].message and problems[0].hint


def test_lint_conflicting_hair_colour(compiled):
    spec, cp = compiled
    bad = cp.prompt.replace("Mara turns toward the stair.",
                            "Mara, with blonde hair, turns toward the stair.")
    problems = lint_prompt(_edit(cp, bad), spec)
    assert "conflict" in kinds(problems)
    assert any("hair" in p.message and "auburn" in p.message for p in problems)


def test_lint_conflicting_camera_and_light(compiled):
    spec, cp = compiled
    problems = lint_prompt(_edit(cp, cp.prompt + " Handheld, lit from the left."), spec)
    messages = " ".join(p.message for p in problems)
    assert "camera conflicts" in messages and "light direction conflicts" in messages


def test_lint_missing_character(compiled):
    spec, cp = compiled
    start = cp.prompt.index("Theo Quinn:")
    end = cp.prompt.index("right of frame.", start) + len("right of frame.")
    bad = (cp.prompt[:start] + cp.prompt[end:]).replace("Theo Quinn has brown eyes.", "")
    problems = lint_prompt(_edit(cp, bad), spec)
    assert kinds(problems) == {"missing-character"}
    assert "theo" in problems[0].message


def test_lint_over_length(compiled):
    spec, cp = compiled
    problems = lint_prompt(_edit(cp, cp.prompt + " Waves." * 300), spec)
    assert kinds(problems) == {"over-length"}
    assert "local accepts 2000" in problems[0].message


def test_lint_banned_terms_configurable(compiled):
    spec, cp = compiled
    assert kinds(lint_prompt(_edit(cp, cp.prompt + " Trending on ArtStation."), spec)) == \
        {"banned-term"}
    policy = PromptPolicy(banned_terms=["lens"])
    problems = lint_prompt(cp, spec, policy=policy)
    assert kinds(problems) == {"banned-term"} and "'lens'" in problems[0].message


def test_lint_identity_token_dropped(compiled):
    spec, cp = compiled
    problems = lint_prompt(_edit(cp, cp.prompt.replace("golden oilskin jacket, ", "")), spec)
    assert kinds(problems) == {"identity-dropped"}
    assert "golden oilskin jacket" in problems[0].message
    assert problems[0].field == "identity_tokens.mara"


def test_policy_file_is_validated(sample_dir):
    from studio_kit.errors import StudioError

    (sample_dir / "prompt_policy.yaml").write_text("banned_terms: [x]\nbanned_term: [y]\n")
    with pytest.raises(StudioError) as err:
        PromptPolicy.for_project(sample_dir)
    assert "prompt_policy.yaml" in str(err.value) and "banned_term" in str(err.value)


def test_cli_prompts_lint(sample_dir, capsys):
    from studio_kit.cli import main

    assert main(["prompts", str(sample_dir), "01", "--lint"]) == 0
    assert (sample_dir / "episodes" / "01" / "prompts" / "s01-cliff-wide.local.json").is_file()
    (sample_dir / "prompt_policy.yaml").write_text("banned_terms: [lens]\n")
    assert main(["prompts", str(sample_dir), "01", "--lint"]) == 2
    err = capsys.readouterr().err
    assert "banned term 'lens'" in err and "s03-lamp-wide.local.json" in err
