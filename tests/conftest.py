"""Shared fixtures: a fresh copy of the sample series per test, seeded randomness."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
CORPUS = ROOT.parent / "shared" / "corpus" / "screenplays"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(1234)
    np.random.seed(1234)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A writable copy of the sample series."""
    dest = tmp_path / "lighthouse"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio"))
    return dest


@pytest.fixture
def sample_project(sample_dir: Path):
    from studio_kit.project.series_folder import Project

    return Project.load(sample_dir)


@pytest.fixture
def keys(monkeypatch) -> None:
    """Every paid engine's API key set (to a dummy): the engines are routable; tests point
    them at the loopback fakes, never at the real services."""
    from fakes.engine_servers import KEY_ENV

    for env in KEY_ENV.values():
        monkeypatch.setenv(env, "test-key")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser():
    """Debian Chromium for one browser-test module (tests/browser_support.py); module scope,
    not session: Playwright's sync API keeps an event loop running while it is open."""
    from browser_support import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def s3_server():
    """A local S3-compatible server (moto's server mode) on loopback, for the vault on
    object storage; its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
