"""``studio vault verify`` and ``studio vault gc`` on the vault's object store (a bucket).

With ``STUDIO_VAULT_URL`` (or ``Vault(remote=URL)``) the local vault folder is one machine's
cache; the bucket is the vault every worker shares. Both commands then work on the bucket
too:

- :func:`verify_bucket` re-hashes every object *on the store* (streamed, a few at a time:
  nothing is downloaded into the cache) and checks that every stage record's outputs are
  there. ``repair`` moves a corrupt object to ``<url>/quarantine/`` and deletes the records
  whose outputs are gone, so the next render re-makes them.
- :func:`plan_bucket_gc` / :func:`run_bucket_gc` decide what is live exactly as the local gc
  does (``surfaces.asset_vault.mark_live``: the ledger's latest renders, the project's files, the
  takes episodes use, paid takes kept unless ``include_paid_unused``), with the bucket's
  stage records pulled into the cache first (a worker's records may be only there), and
  delete the rest from the bucket: records first, then objects, with a journal under
  ``<url>/gc-journal.json`` (a crash leaves it; the next run recomputes the mark and
  completes). A paid take an episode uses is always live, so it is never deleted.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from ..store.objectstore import (
    ObjectStore,
    _listing,
    iter_remote_objects,
    iter_remote_records,
    quarantine_remote,
    remote_sha256,
    remove_remote,
)
from ..store.vault import IntegrityReport, Vault
from ..store.yamlio import atomic_write_text
from ..surfaces.asset_vault import GcPlan, mark_live

#: objects hashed at once (each a streamed GET: network-bound, so a few overlap)
VERIFY_CONCURRENCY = 8
GC_JOURNAL = "gc-journal.json"
#: a temporary upload older than this (seconds) belongs to a writer that is gone
STALE_UPLOAD_S = 6 * 3600.0


class BucketReport(IntegrityReport):
    url: str = ""
    bytes: int = 0
    seconds: float = 0.0


def verify_bucket(store: ObjectStore, progress=None, *, repair: bool = False,
                  concurrency: int = VERIFY_CONCURRENCY) -> BucketReport:
    """Re-hash every object on the store and check every stage record's outputs exist
    there (see module doc)."""
    t0 = time.perf_counter()
    objects = iter_remote_objects(store)
    report = BucketReport(url=repr(store), bytes=sum(size for _d, _k, size in objects))

    def check(item: tuple[str, str, int]) -> tuple[str, bool]:
        digest, key, _size = item
        return digest, remote_sha256(store, key) == digest

    present = set()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for digest, ok in pool.map(check, objects):
            report.checked += 1
            if ok:
                present.add(digest)
            else:
                report.corrupt.append(digest)
                if repair:
                    quarantine_remote(store, digest)
            if progress:
                progress(1)
    if not repair:
        present.update(report.corrupt)  # still there (not quarantined)
    for stage, key in iter_remote_records(store):
        text = store.read_record(stage, key)
        try:
            outputs = json.loads(text or "").get("outputs", {})
        except ValueError:
            outputs = None
        if not isinstance(outputs, dict):
            report.missing.append(f"{stage}/{key}.json (unreadable)")
            gone = True
        else:
            lost = [d for d in outputs.values() if d not in present]
            report.missing.extend(lost)
            gone = bool(lost)
        if repair and gone:
            remove_remote(store, store.record_key(stage, key))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


class BucketGcPlan(GcPlan):
    """The local gc's plan on a bucket (``records`` are its 'stage/key' records), plus the
    stale temporary keys of interrupted uploads."""

    url: str = ""
    uploads: list[str] = Field(default_factory=list, description="stale temporary keys")


def pull_records(vault: Vault, store: ObjectStore) -> int:
    """Copy into the local cache every stage record the store has and the cache lacks
    (records are small; the objects stay where they are). Returns how many came."""
    n = 0
    for stage, key in iter_remote_records(store):
        local = vault.stages / stage / f"{key}.json"
        if local.is_file():
            continue
        text = store.read_record(stage, key)
        if text is not None:
            atomic_write_text(local, text)
            n += 1
    return n


def _stale_uploads(store: ObjectStore, max_age_s: float) -> list[str]:
    now = time.time()
    out = []
    for key, _size in _listing(store, "tmp"):
        try:
            info = store.fs.info(key)
        except FileNotFoundError:
            continue
        stamp: Any = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(stamp, datetime):
            stamp = stamp.timestamp()
        if stamp is not None and now - float(stamp) > max_age_s:
            out.append(key)
    return out


def plan_bucket_gc(project: Any, store: ObjectStore, *, include_paid_unused: bool = False,
                   vault: Vault | None = None) -> BucketGcPlan:
    """What :func:`run_bucket_gc` would delete from the store (nothing is touched there;
    the store's records are pulled into the local cache for the mark)."""

    vault = vault or project.vault()
    pull_records(vault, store)
    live, live_records, kept_paid = mark_live(project, vault,
                                          include_paid_unused=include_paid_unused)
    plan = BucketGcPlan(url=repr(store), kept_paid=kept_paid, live=len(live))
    try:
        plan.resumed = store.fs.exists(f"{store.base}/{GC_JOURNAL}")
    except Exception as exc:  # noqa: BLE001
        raise store._fail("read the gc journal", exc) from None
    objects = iter_remote_objects(store)
    for digest, _key, size in objects:
        if digest not in live:
            plan.objects[digest] = size
    dead = set(plan.objects)
    stored = {d for d, _k, _s in objects}
    for stage, key in iter_remote_records(store):
        if str(vault.stages / stage / f"{key}.json") in live_records:
            continue
        try:
            outs = set((json.loads(store.read_record(stage, key) or "{}")
                        .get("outputs") or {}).values())
        except ValueError:
            outs = set()
        if outs & dead or not outs <= stored:
            plan.records.append(f"{stage}/{key}")
    plan.uploads = _stale_uploads(store, STALE_UPLOAD_S)
    return plan


def run_bucket_gc(project: Any, store: ObjectStore, *, include_paid_unused: bool = False,
                  progress=None, vault: Vault | None = None) -> BucketGcPlan:
    """Mark, write the journal to the store, then delete: records first (so no record is
    left naming a deleted object), then objects, then stale uploads; the journal last."""
    plan = plan_bucket_gc(project, store, include_paid_unused=include_paid_unused,
                          vault=vault)
    journal = f"{store.base}/{GC_JOURNAL}"
    try:
        store.fs.pipe_file(journal, json.dumps(
            {"started": datetime.now(UTC).isoformat(), "pid": os.getpid(),
             **plan.model_dump()}).encode("utf-8"))
    except Exception as exc:  # noqa: BLE001
        raise store._fail("write the gc journal", exc) from None
    for rec in plan.records:
        stage, key = rec.split("/", 1)
        remove_remote(store, store.record_key(stage, key))
        if progress:
            progress(f"record {rec}")
    for digest in sorted(plan.objects):
        remove_remote(store, store.object_key(digest))
        if progress:
            progress(f"object {digest} {plan.objects[digest]}")
    for key in plan.uploads:
        remove_remote(store, key)
        if progress:
            progress(f"upload {key.rsplit('/', 1)[-1]}")
    remove_remote(store, journal)
    return plan
