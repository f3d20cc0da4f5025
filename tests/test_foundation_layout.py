"""The repository's own promises: two commands, environment in sync, thin notebooks."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and
                  d.startswith("python="))
    minimum = project["requires-python"].removeprefix(">=")
    assert python.split("=")[1].startswith(minimum)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(p.startswith("-e .") for p in pip), "environment.yml must install the project"


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci


def test_notebooks_committed_without_outputs():
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{nb_path.name} has outputs"
                assert cell.get("execution_count") is None, f"{nb_path.name} was executed"
            src = "".join(cell["source"])
            assert not re.search(r"(sk|key)-[A-Za-z0-9]{16,}", src), f"{nb_path.name}: secret?"


def test_studio_kit_has_no_ui_imports():
    bad = re.compile(r"^\s*(import|from)\s+(panel|ipywidgets|voila|jupyter_bokeh)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "studio_kit").rglob("*.py")
                 if bad.search(p.read_text())]
    assert offenders == []
