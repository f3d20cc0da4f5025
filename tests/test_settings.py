"""Every STUDIO_* variable in one pydantic-settings model (studio_kit/settings.py):
documented, defaults, re-read when the environment changes, a bad value named, secrets
never printed, and no STUDIO_* variable read anywhere else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio_kit import secrets
from studio_kit.errors import StudioError
from studio_kit.settings import (
    StudioSettings,
    markdown_table,
    reveal,
    secret_fields,
    settings,
    variables,
)

ROOT = Path(__file__).resolve().parents[1]
#: STUDIO_* names in the code that are not configuration variables
NOT_VARIABLES = {"STUDIO_ASSERTION",  # a C2PA assertion label
                 "STUDIO_SECRET_WORDS",  # a constant of secrets.py
                 "STUDIO_CORPUS"}  # bench only, documented as such
#: read per target name, documented as a family
FAMILIES = ("STUDIO_ENGINE",)  # STUDIO_ENGINE_<NAME>_URL


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.upper().startswith("STUDIO_"):
            monkeypatch.delenv(name)


def test_every_variable_is_in_the_configuration_doc_and_the_readme_links_it():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "regenerate the table: studio_kit.settings.markdown_table()"
    for name, description in variables().items():
        assert f"| `{name}` |" in doc and description, name
    for family in ("STUDIO_ENGINE_<NAME>_URL", "token_env", "STUDIO_CORPUS"):
        assert family in doc
    assert "docs/configuration.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(variables()) >= 25


def test_defaults_without_any_variable():
    conf = settings()
    assert conf.project is None and conf.projects_dir == Path("projects")
    assert (conf.engine_poll_s, conf.engine_max_poll_s, conf.engine_timeout_s) == (2.0, 15.0,
                                                                                    1800.0)
    assert conf.engine_max_download == 512 * 1024 * 1024
    assert conf.lease_wait_s == 600.0 and conf.allow_insecure_http is False
    assert (conf.llm_model, conf.vlm_model, conf.c2pa_alg) == ("gpt-4o-mini", "local-vlm",
                                                               "es256")
    assert conf.token is None and conf.vault_url is None and conf.asset_roots == ""


def test_values_are_read_again_when_the_environment_changes(monkeypatch):
    monkeypatch.setenv("STUDIO_LEASE_WAIT_S", "0.3")
    assert settings().lease_wait_s == 0.3
    monkeypatch.setenv("STUDIO_LEASE_WAIT_S", "2")
    assert settings().lease_wait_s == 2.0
    monkeypatch.setenv("STUDIO_ALLOW_INSECURE_HTTP", "yes")
    assert settings().allow_insecure_http is True
    monkeypatch.setenv("STUDIO_PROJECT", "")  # empty is unset
    assert settings().project is None
    monkeypatch.delenv("STUDIO_LEASE_WAIT_S")
    assert settings().lease_wait_s == 600.0


def test_a_given_environment_is_read_alone(monkeypatch):
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "9")
    conf = settings({"STUDIO_ENGINE_POLL_S": "0.5", "STUDIO_C2PA_ALG": "ps256"})
    assert (conf.engine_poll_s, conf.c2pa_alg) == (0.5, "ps256")
    assert settings({}).engine_poll_s == 2.0
    assert settings().engine_poll_s == 9.0


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("STUDIO_ENGINE_POLL_S", "abc", "valid number"),
    ("STUDIO_ENGINE_TIMEOUT_S", "-5", "greater than 0"),
    ("STUDIO_ENGINE_MAX_DOWNLOAD", "lots", "valid integer"),
    ("STUDIO_ALLOW_INSECURE_HTTP", "maybe", "valid boolean"),
    ("STUDIO_LEASE_WAIT_S", "soon", "valid number"),
])
def test_a_bad_value_is_a_clear_error_naming_the_variable(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(StudioError) as err:
        settings()
    text = str(err.value)
    assert f"{name}={value!r} is not valid" in text and expected in text
    assert err.value.problems[0].field == name
    assert variables()[name] in err.value.hint and "unset" in err.value.hint


def test_a_bad_value_fails_the_command_that_reads_it(monkeypatch):
    from studio_kit.engines.adapters.replicate import ReplicateEngine

    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "fast")
    with pytest.raises(StudioError, match="STUDIO_ENGINE_POLL_S='fast' is not valid"):
        ReplicateEngine()


def test_secrets_are_secretstr_never_printed_and_redacted(monkeypatch, capsys):
    assert set(secret_fields()) == {"STUDIO_TOKEN", "STUDIO_VOILA_TOKEN", "STUDIO_LLM_API_KEY",
                                    "STUDIO_VLM_API_KEY", "STUDIO_UPLOAD_TOKEN"}
    canary = "sk-canary-settings-7f3e1a"
    for name in secret_fields():
        monkeypatch.setenv(name, canary)
    conf = settings()
    assert canary not in repr(conf) and canary not in str(conf)
    assert canary not in conf.model_dump_json()
    assert reveal(conf.llm_api_key) == canary and reveal(None) is None
    # secrets.py finds every secret variable of the model by its name
    assert set(secret_fields()) <= set(secrets.secret_names())
    assert canary not in secrets.redact(f"key={canary}")
    # a bad secret value is not echoed in the error either
    monkeypatch.setenv("STUDIO_TOKEN", canary)
    monkeypatch.setenv("STUDIO_LEASE_WAIT_S", "x")
    with pytest.raises(StudioError) as err:
        settings()
    assert canary not in str(err.value)


def test_studio_settings_command_lists_variables_and_hides_secrets(monkeypatch, capsys):
    from studio_kit.cli import main

    monkeypatch.setenv("STUDIO_TOKEN", "tok-canary-42")
    monkeypatch.setenv("STUDIO_LEASE_WAIT_S", "3")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "tok-canary-42" not in out
    for name in variables():
        assert name in out
    assert main(["settings", "--set"]) == 0
    out = capsys.readouterr().out
    assert "STUDIO_LEASE_WAIT_S" in out and "STUDIO_TOKEN" in out and "STUDIO_PROJECT " not in out
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "abc")
    assert main(["settings"]) == 2
    assert "STUDIO_ENGINE_POLL_S" in capsys.readouterr().err


def test_no_studio_variable_is_read_outside_the_settings_model():
    """Every STUDIO_* name in studio_kit/ and widgets/ is a field of the model, a family
    documented in docs/configuration.md, or not a variable at all."""
    names: dict[str, set[str]] = {}
    for d in ("studio_kit", "widgets"):
        for f in (ROOT / d).rglob("*.py"):
            for m in re.finditer(r"STUDIO_[A-Z0-9_]*[A-Z0-9]", f.read_text("utf-8")):
                names.setdefault(m.group(), set()).add(str(f.relative_to(ROOT)))
    unknown = {n: sorted(fs) for n, fs in names.items()
               if n not in variables() and n not in NOT_VARIABLES
               and not any(n.startswith(p) for p in FAMILIES)}
    assert not unknown, f"add these to StudioSettings: {unknown}"
    # and nothing reads a model variable straight from the environment
    direct = re.compile(r"(environ\.get|getenv)\(\s*[\"'](STUDIO_[A-Z0-9_]+)[\"']")
    readers = sorted(f"{f.relative_to(ROOT)}: {m.group(2)}"
                     for d in ("studio_kit", "widgets") for f in (ROOT / d).rglob("*.py")
                     for m in direct.finditer(f.read_text("utf-8")))
    assert not readers, readers
    notebooks = [f.name for f in (ROOT / "notebooks").glob("*.ipynb")
                 if re.search(r'(environ\.get|getenv)\(\\"STUDIO_', f.read_text("utf-8"))]
    assert not notebooks, notebooks


def test_help_of_the_cli_names_the_settings_command():
    out = subprocess.run([sys.executable, "-m", "studio_kit.cli", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "settings" in out
    assert issubclass(StudioSettings, __import__("pydantic_settings").BaseSettings)
