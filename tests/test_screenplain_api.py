"""The one module that calls screenplain: version bound, internals present, and the calls
behave as the Fountain parser relies on."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from studio_kit.errors import StudioError
from studio_kit.screenplay import screenplain_api as sp

ROOT = Path(__file__).resolve().parents[1]


def test_installed_screenplain_is_inside_the_pyproject_bound():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("screenplain")]
    bound = SpecifierSet(spec.removeprefix("screenplain"))
    assert bound.contains(sp.installed_version())
    assert bound.contains(sp.WRITTEN_AGAINST)
    assert sp.WRITTEN_AGAINST in sp.__doc__


def test_no_other_module_imports_screenplain():
    rx = re.compile(r"^\s*(from|import) screenplain\b", re.MULTILINE)
    found = sorted(str(f.relative_to(ROOT)) for d in ("studio_kit", "widgets")
                   for f in (ROOT / d).rglob("*.py") if rx.search(f.read_text("utf-8")))
    assert found == ["studio_kit/screenplay/screenplain_api.py"]


def test_calls_behave_as_the_parser_expects():
    assert sp.split_lines("A\tB\r\nC\n") == ["A   B", "C", ""]
    assert sp.is_blank("") and sp.is_blank(" ") and not sp.is_blank("x")
    assert sp.remove_boneyard("a /* x\ny */ b", lambda m: "#") == "a # b"
    assert sp.title_page(["Title: Coast", "Author: Ana"]) == {"Title": ["Coast"],
                                                              "Author": ["Ana"]}
    assert sp.is_slug("INT. HOUSE - DAY") and not sp.is_slug("HOUSE - DAY")
    assert sp.is_page_break("===") and not sp.is_page_break("= synopsis")
    paras: list[object] = []
    sp.classify(["MARA", "Hello."], paras)
    sp.classify(["THEO ^", "Hi."], paras)
    assert len(paras) == 1 and isinstance(paras[0], sp.DualDialog)


def test_a_missing_internal_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(sp._fountain, "_is_blank")
    with pytest.raises(StudioError, match=r"lacks _is_blank .*written against screenplain"):
        sp.check()


def test_the_wrapper_imports_cleanly_in_a_fresh_interpreter():
    subprocess.run([sys.executable, "-c", "import studio_kit.screenplay.parse"], check=True,
                   cwd=ROOT)
