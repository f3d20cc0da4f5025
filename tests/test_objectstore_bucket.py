"""``studio vault verify`` / ``studio vault gc`` on the vault's bucket (issue 17): a tiny
episode rendered with the vault on moto's S3 server (loopback); verify re-hashes the objects
*on the bucket* (a flipped object there is found, and --repair moves it to quarantine/ and
drops the records naming it); gc's dry run lists and deletes nothing, --yes deletes only what
nothing references from the bucket (a paid take the episode uses never goes, a paid unused
one only with --include-paid-unused), and the episode then re-renders from the bucket alone
(an empty local cache) with every stage a hit."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from tiny_sample import sample_copy

from studio_kit.cli import main
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project
from studio_kit.scale.bucket import plan_bucket_gc, verify_bucket
from studio_kit.store.ledger import Ledger
from studio_kit.store.objectstore import iter_remote_objects, iter_remote_records, store_for

pytest.importorskip("moto")

OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False,
                     languages=["en"])


@pytest.fixture()
def bucket_url(s3_server, monkeypatch, request):
    """A fresh bucket; credentials and endpoint from the environment only."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_server)
    name = "gc-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:10]
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    url = f"s3://{name}/series"
    monkeypatch.setenv("STUDIO_VAULT_URL", url)
    return url


def _keys(s3_server: str, url: str) -> set[str]:
    import boto3

    name = url.split("/")[2]
    s3 = boto3.client("s3", endpoint_url=s3_server)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())


def _render(root):
    return render_episode(root, "01", options=OPTS, out_dir=root / "out")


def _fake_paid(root, asset: str, cost: float) -> None:
    with Ledger(root / ".studio" / "ledger.sqlite") as led:
        with led.transaction() as c:
            c.execute("UPDATE engine_calls SET cost=? WHERE asset=?", (cost, asset))


def test_verify_rehashes_the_bucket_and_repair_quarantines_there(
        tmp_path, bucket_url, s3_server, capsys):
    import boto3

    root = sample_copy(tmp_path / "lh", shots=1)
    result = _render(root)
    store = store_for(bucket_url)
    objects = iter_remote_objects(store)
    assert objects and iter_remote_records(store)
    code, text = _cli(capsys, "vault", "verify", str(root))
    assert code == 0, text
    assert f"checked {len(objects)} objects" in text and "0 corrupt" in text
    assert "s3://" in text and "testing" not in text  # the bucket named, no secret
    # flip the shot's take on the bucket (the local cache keeps good bytes: only a re-hash
    # *on the bucket* can find it)
    take = result.shots[0].asset
    name = bucket_url.split("/")[2]
    key = f"series/objects/{take[:2]}/{take}"
    boto3.client("s3", endpoint_url=s3_server).put_object(Bucket=name, Key=key,
                                                          Body=b"flipped")
    report = verify_bucket(store)
    assert report.corrupt == [take] and report.checked == len(objects)
    code, text = _cli(capsys, "vault", "verify", str(root))
    assert code == 2 and "1 corrupt" in text and "--repair" in text, text
    code, text = _cli(capsys, "vault", "verify", str(root), "--repair")
    assert code == 0, text
    keys = _keys(s3_server, bucket_url)
    assert key not in keys and f"series/quarantine/{take}" in keys
    after = verify_bucket(store)  # records naming it were dropped: the bucket is whole
    assert after.ok and after.checked == len(objects) - 1


def test_bucket_gc_dry_run_then_only_the_unreferenced_go(
        tmp_path, bucket_url, s3_server, capsys):
    root = sample_copy(tmp_path / "lh", shots=2)
    first = _render(root)
    old_take = first.shots[0].asset
    project = Project.load(root)
    sb = project.storyboard("01").model_copy(deep=True)
    sb.acts[0].shots[0].seed = 4242  # a reroute: shot 1 gets a new take
    project.save_storyboard(sb)
    second = _render(root)
    current = [s.asset for s in second.shots]
    assert old_take not in current
    store = store_for(bucket_url)
    junk = store_for(bucket_url)
    src = tmp_path / "junk.bin"
    src.write_bytes(b"nothing references this")
    junk_digest = hashlib.sha256(src.read_bytes()).hexdigest()
    junk.publish_file(src, junk_digest)  # only in the bucket (another machine's leftover)

    # the paid takes: the one the episode uses is never removed; the unused one stays
    # unless --include-paid-unused
    _fake_paid(root, old_take, 0.75)
    _fake_paid(root, current[0], 0.5)
    before = _keys(s3_server, bucket_url)
    code, text = _cli(capsys, "vault", "gc", str(root))
    assert code == 0, text
    assert "dry run, ObjectStore('s3://" in text and junk_digest[:16] in text, text
    assert old_take[:16] not in text and "1 paid unused takes kept" in text
    assert _keys(s3_server, bucket_url) == before  # a dry run deletes nothing

    plan = plan_bucket_gc(Project.load(root), store, include_paid_unused=True)
    assert old_take in plan.objects and current[0] not in plan.objects
    code, text = _cli(capsys, "vault", "gc", str(root), "--yes")
    assert code == 0, text
    have = {d for d, _k, _s in iter_remote_objects(store)}
    assert junk_digest not in have and old_take in have and set(current) <= have
    code, text = _cli(capsys, "vault", "gc", str(root), "--yes", "--include-paid-unused")
    assert code == 0, text
    have = {d for d, _k, _s in iter_remote_objects(store)}
    assert old_take not in have and set(current) <= have
    assert not [k for k in _keys(s3_server, bucket_url) if k.endswith("gc-journal.json")]
    assert verify_bucket(store).ok  # no record names a removed object
    assert not plan_bucket_gc(Project.load(root), store, include_paid_unused=True).objects

    # everything live is in the bucket: an empty local cache re-renders with every stage a
    # hit, from the bucket alone
    shutil.rmtree(root / ".studio" / "vault")
    again = _render(root)
    assert again.stage_summary["hits"] == again.stage_summary["stages"], again.stage_summary
    assert [s.asset for s in again.shots] == current


def test_bucket_commands_without_a_reachable_bucket_are_clear_errors(
        tmp_path, monkeypatch, capsys):
    root = sample_copy(tmp_path / "lh", shots=1)
    # `studio vault --vault-url` sets STUDIO_VAULT_URL for the rest of its process (the
    # project's other vault() calls agree); here that process is the test run's: undo it
    # (setenv records the variable's state before the test, so teardown restores it)
    monkeypatch.setenv("STUDIO_VAULT_URL", "")
    monkeypatch.delenv("STUDIO_VAULT_URL")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for args in (["verify"], ["gc"]):
        code, text = _cli(capsys, "vault", *args, str(root), "--vault-url", "s3://nowhere/x")
        assert code == 2 and "s3://nowhere/x" in text and "Traceback" not in text, text
        assert "credentials are in the environment" in text and "testing" not in text


def test_an_interrupted_bucket_gc_keeps_what_is_live_and_the_next_run_completes(
        tmp_path, bucket_url, s3_server, monkeypatch):
    from studio_kit.scale import bucket as bucket_mod

    root = sample_copy(tmp_path / "lh", shots=1)
    result = _render(root)
    store = store_for(bucket_url)
    junk = []
    for i in range(6):
        src = tmp_path / f"junk{i}.bin"
        src.write_bytes(b"junk %d" % i)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        store.publish_file(src, digest)
        junk.append(digest)
    dead = set(bucket_mod.plan_bucket_gc(Project.load(root), store).objects)
    assert set(junk) <= dead
    live = {d for d, _k, _s in iter_remote_objects(store)} - dead
    real_remove = bucket_mod.remove_remote
    calls = []

    def dies_after_two(st, key):
        if "/objects/" in key:
            calls.append(key)
            if len(calls) > 2:
                raise ConnectionError("the coordinator's link dropped mid-sweep")
        real_remove(st, key)

    monkeypatch.setattr(bucket_mod, "remove_remote", dies_after_two)
    with pytest.raises(ConnectionError):
        bucket_mod.run_bucket_gc(Project.load(root), store)
    keys = _keys(s3_server, bucket_url)
    assert "series/gc-journal.json" in keys  # interrupted: the journal is there
    have = {d for d, _k, _s in iter_remote_objects(store)}
    assert live <= have and 0 < len(dead & have) < len(dead)
    monkeypatch.setattr(bucket_mod, "remove_remote", real_remove)
    plan = bucket_mod.plan_bucket_gc(Project.load(root), store)
    assert plan.resumed and set(plan.objects) == dead & have
    bucket_mod.run_bucket_gc(Project.load(root), store)
    have = {d for d, _k, _s in iter_remote_objects(store)}
    assert have == live and "series/gc-journal.json" not in _keys(s3_server, bucket_url)
    assert verify_bucket(store).ok
    assert {s.asset for s in result.shots} <= have
