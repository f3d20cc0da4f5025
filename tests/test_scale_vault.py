"""The vault on fsspec (issue 17): the same content-addressed layout on an S3 bucket served
by moto's server mode on loopback; atomic publish (a temporary key, then a copy); a second
machine's vault (an empty local cache) reads objects and stage records by hash."""

from __future__ import annotations

import hashlib

import pytest

from studio_kit.errors import VaultError
from studio_kit.store.vault import Vault

pytest.importorskip("moto")


@pytest.fixture()
def bucket(s3_server, monkeypatch, request):
    """A fresh bucket on the loopback server; credentials and endpoint from the environment
    only (fsspec's FSSPEC_S3_ENDPOINT_URL convention)."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_server)
    name = "vault-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:10]
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


def _keys(s3_server: str, bucket: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server)
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_objects_and_records_round_trip_through_the_bucket(tmp_path, bucket, s3_server):
    url = f"s3://{bucket}/series"
    a = Vault(tmp_path / "a", remote=url)
    digest = a.put_bytes(b"a shot's pixels")
    src = tmp_path / "clip.bin"
    src.write_bytes(b"\x00\x01" * 5000)
    d2 = a.put_file(src)
    with a.writer(".mp4") as (tmp, out):
        tmp.write_bytes(b"encoded")
    a.remember("grade", "k1", {"clip": digest, "big": d2, "enc": out[0]}, {"n": 1})
    keys = _keys(s3_server, bucket)
    assert f"series/objects/{digest[:2]}/{digest}" in keys
    assert "series/stages/grade/k1.json" in keys
    assert not [k for k in keys if "/tmp/" in k]  # temporary keys are gone after the copy
    # another machine: an empty cache, the same URL -> the record and the objects by hash
    b = Vault(tmp_path / "b", remote=url)
    assert not b.path(digest).exists()
    rec = b.lookup("grade", "k1")
    assert rec is not None and rec.meta == {"n": 1}
    assert b.get(d2).read_bytes() == src.read_bytes()
    assert b.get(digest).read_bytes() == b"a shot's pixels"
    assert b.has(out[0])
    # without a URL the vault is the local folder only, as before
    c = Vault(tmp_path / "c", remote="")
    assert c.remote is None and c.lookup("grade", "k1") is None


def test_a_corrupt_remote_object_is_refused_not_cached(tmp_path, bucket, s3_server):
    import boto3

    url = f"s3://{bucket}/v"
    digest = Vault(tmp_path / "a", remote=url).put_bytes(b"good bytes")
    boto3.client("s3", endpoint_url=s3_server).put_object(
        Bucket=bucket, Key=f"v/objects/{digest[:2]}/{digest}", Body=b"flipped")
    b = Vault(tmp_path / "b", remote=url)
    with pytest.raises(VaultError, match="corrupt"):
        b.get(digest)
    assert not b.path(digest).exists()


def test_an_interrupted_upload_never_leaves_a_partial_object_under_its_hash(
        tmp_path, bucket, s3_server, monkeypatch):
    url = f"s3://{bucket}/p"
    v = Vault(tmp_path / "a", remote=url)
    store = v.remote

    def broken_copy(*_a, **_k):
        raise ConnectionError("link dropped during the copy")

    monkeypatch.setattr(store.fs, "copy", broken_copy)
    with pytest.raises(VaultError, match="could not store object"):
        v.put_bytes(b"half sent")
    digest = hashlib.sha256(b"half sent").hexdigest()
    keys = _keys(s3_server, bucket)
    assert not [k for k in keys if k.endswith(digest)] and not [k for k in keys if "/tmp/" in k]
    monkeypatch.undo()
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert v.put_bytes(b"half sent") == digest  # stored again, whole
    assert f"p/objects/{digest[:2]}/{digest}" in _keys(s3_server, bucket)


def test_an_unreachable_bucket_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    v = Vault(tmp_path / "a", remote="s3://nowhere/x")
    with pytest.raises(VaultError) as err:
        v.put_bytes(b"x")
    msg = str(err.value)
    assert "s3://nowhere/x" in msg and "credentials are in the environment" in msg
    assert "testing" not in msg  # no secret in the message
