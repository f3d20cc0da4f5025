"""The registry's contract (built-ins, errors) and the curated ``studio_kit`` package: its
public API is lazy (``import studio_kit`` imports no submodule) and carries a version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import studio_kit
from studio_kit.errors import StudioError
from studio_kit.registry import ENGINES, GROUPS, Registry


def test_import_studio_kit_imports_nothing_else():
    code = ("import sys, studio_kit; "
            "print(sorted(m for m in sys.modules if m.startswith('studio_kit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['studio_kit']"
    # the first use of a name imports its module, and only what that module needs
    code = ("import sys, studio_kit; studio_kit.StudioError; "
            "print(sorted(m for m in sys.modules if m.startswith('studio_kit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['studio_kit', 'studio_kit.errors']"


def test_public_api():
    assert studio_kit.__version__ == version("studio-kit")
    from studio_kit.engines.factory import get_engine
    from studio_kit.pipeline import render_episode
    from studio_kit.project.series_folder import Project
    from studio_kit.store.ledger import Ledger
    from studio_kit.store.vault import Vault

    assert studio_kit.render_episode is render_episode and studio_kit.Vault is Vault
    assert studio_kit.Ledger is Ledger and studio_kit.Project is Project
    assert studio_kit.StudioError is StudioError and studio_kit.ENGINES is ENGINES
    assert studio_kit.get_engine is get_engine
    assert set(studio_kit.__all__) <= set(dir(studio_kit))
    for name in studio_kit.__all__:
        assert getattr(studio_kit, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        studio_kit.nope  # noqa: B018


def test_load_project(sample_dir):
    p = studio_kit.load_project(sample_dir)
    assert isinstance(p, studio_kit.Project) and p.root == sample_dir
    (sample_dir / "series.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(StudioError) as exc:
        studio_kit.load_project(sample_dir)
    assert "series.yaml" in str(exc.value)


def test_registry_groups_and_errors():
    assert ENGINES.group == "studio_kit.engines" and GROUPS["tts"] == "studio_kit.tts"
    assert Registry("scorer").group == "studio_kit.scorers"
    reg: Registry = Registry("gadget")
    assert reg.group == "studio_kit.gadgets" and reg.names() == []

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A and "a" in reg and "b" not in reg
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))
    with pytest.raises(StudioError, match="unknown gadget 'b'") as exc:
        reg.get("b")
    assert "known gadgets: a" in exc.value.hint and "studio_kit.gadgets" in exc.value.hint
