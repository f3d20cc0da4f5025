"""The tus upload publisher against a fake platform on loopback (tests/fakes/tus_platform.py):
chunks resumed from the server's offset after a 503 mid-chunk, a 502 on the release
registered retried, a wrong or missing token refused, a failing platform given up on; the
API token comes from the environment and is never written anywhere."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
from fakes.tus_platform import FakePlatform

from studio_kit.distribution.publish import (
    PlatformRelease,
    Release,
    TusPublisher,
    UploadError,
    release_file,
)
from studio_kit.errors import StudioError
from studio_kit.registry import PUBLISHERS

TOKEN = "tok-9f2c71d4e8a0b35e"
ENV = "STUDIO_UPLOAD_TOKEN"


def _release(tmp_path: Path) -> Release:
    root = tmp_path / "release"
    (root / "shorts").mkdir(parents=True)
    rng = __import__("numpy").random.default_rng(7)
    video = root / "shorts" / "ep.shorts.mp4"
    video.write_bytes(rng.integers(0, 256, 700_000, dtype="uint8").tobytes())
    thumb = root / "shorts" / "ep.shorts.thumbnail.png"
    thumb.write_bytes(rng.integers(0, 256, 5_000, dtype="uint8").tobytes())
    cap = root / "shorts" / "ep.en.srt"
    cap.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello.\n", encoding="utf-8")
    files = [release_file(root, video, "video"), release_file(root, thumb, "thumbnail"),
             release_file(root, cap, "caption", "en")]
    return Release(episode="01", master=str(tmp_path / "master.mp4"), master_sha256="0" * 64,
                   root=str(root), platforms=[PlatformRelease(
                       platform="shorts", files=files,
                       metadata={"title": "The Lighthouse", "tags": ["mystery"]})])


def _no_token_anywhere(*roots: Path) -> None:
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file():
                assert TOKEN.encode() not in p.read_bytes(), f"token written into {p}"


def test_publishers_are_registered() -> None:
    assert {"folder", "tus"} <= set(PUBLISHERS.names())


def test_tus_upload_resumes_after_5xx_and_keeps_the_token_secret(tmp_path, monkeypatch,
                                                                 caplog) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    caplog.set_level(logging.DEBUG)
    rel = _release(tmp_path)
    with FakePlatform(TOKEN) as fake:
        fake.fail_patch(2, keep=1000)  # the 2nd chunk: 1000 bytes arrive, then a 503
        fake.fail_next("/api/releases", 502)
        receipt = TusPublisher().publish(rel, endpoint=fake.url, chunk_bytes=256 * 1024,
                                         backoff_s=0.01)
    assert len(fake.releases) == 1
    (got,) = fake.releases.values()
    assert got["platform"] == "shorts" and got["metadata"]["title"] == "The Lighthouse"
    by_role = {up["meta"]["role"]: up for up in fake.uploads.values()}
    video = Path(rel.root) / "shorts" / "ep.shorts.mp4"
    assert bytes(by_role["video"]["data"]) == video.read_bytes()
    assert by_role["caption"]["meta"]["language"] == "en"
    assert hashlib.sha256(by_role["video"]["data"]).hexdigest() == rel.platforms[0].file(
        "video").sha256
    methods = [(r["method"], r["path"]) for r in fake.requests]
    assert ("HEAD", "/api/files/u1") in methods  # resumed from the server's offset
    patches = [r for r in fake.requests if r["method"] == "PATCH" and r["path"] == "/api/files/u1"]
    assert len(patches) == 4  # 3 chunks + the one retried
    resumed = patches[2]["headers"]["Upload-Offset"]
    assert int(resumed) == 256 * 1024 + 1000
    assert [m for m in methods if m == ("POST", "/api/releases")] == [("POST", "/api/releases")] * 2
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in fake.requests)
    assert receipt.items[0]["id"] == "r1" and receipt.target == fake.url
    assert TOKEN not in receipt.model_dump_json()
    assert TOKEN not in caplog.text and "503" in caplog.text
    _no_token_anywhere(tmp_path)


def test_a_wrong_token_is_refused_and_not_echoed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    with FakePlatform("another-token") as fake, pytest.raises(UploadError) as err:
        TusPublisher().publish(_release(tmp_path), endpoint=fake.url, backoff_s=0.01)
    assert "refused the upload token" in str(err.value) and TOKEN not in str(err.value)
    assert not fake.uploads


def test_a_missing_token_names_the_environment_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("MY_PLATFORM_TOKEN", raising=False)
    with pytest.raises(StudioError, match=r"no upload token in \$MY_PLATFORM_TOKEN") as err:
        TusPublisher().publish(_release(tmp_path), endpoint="http://127.0.0.1:9/api",
                               token_env="MY_PLATFORM_TOKEN")
    assert "hint:" in str(err.value) and os.environ.get("MY_PLATFORM_TOKEN") is None


def test_a_platform_that_keeps_failing_is_given_up_on(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    with FakePlatform(TOKEN) as fake:
        for _ in range(5):
            fake.fail_next("/api/files", 500)
        with pytest.raises(UploadError, match="kept failing .HTTP 500. after 3 attempts"):
            TusPublisher().publish(_release(tmp_path), endpoint=fake.url, retries=2,
                                   backoff_s=0.01)
    assert len(fake.requests) == 3 and not fake.uploads
    assert TOKEN not in caplog.text
