"""The asset vault: a content-addressed store plus a stage cache keyed by input hashes.

Layout under ``<project>/.studio/vault/``::

    objects/ab/abcdef...        file contents, named by their sha256
    stages/<stage>/<key>.json   a StageRecord: which objects a stage produced from inputs
                                whose hash is <key>

Objects are written to a temporary file, hashed while streaming, fsynced and renamed, so a
crash leaves either no object or a whole one.

Reads are verified: ``get`` (and a stage ``lookup``) re-hash an object the first time this
process reads it, then trust it while its (path, size, mtime) are unchanged. A mismatch
(a flipped byte, a truncated copy) moves the object to ``quarantine/`` and the read is a
miss, so the stage that made it runs again; a store of the same bytes replaces a bad file
of that name instead of keeping it. Stale temporary work (``tmp/``) of processes that are
gone (or older than ``STALE_TMP_S``) is removed when a process first opens the vault. Stage records are written after their
objects, so a record never points at a missing object unless someone deletes files.

On object storage: with ``remote=URL`` (or ``STUDIO_VAULT_URL`` in the environment) the same
layout is kept on any fsspec filesystem (``s3://bucket/prefix``; see
``studio_kit.store.objectstore``) and the local folder is this machine's cache of it: every
object and record stored is published there too (atomically: a temporary key, then a copy),
and an object or record missing locally is fetched from it by its hash. Without a URL
nothing changes.

The stage records are read and written as caches through ``studio_kit.store.cache.Cache``
(one namespace per kind of entry, hit/miss counts, one ``--force`` mechanism); ``lookup``
and ``remember`` here are its raw primitives (no force scope: paid generations use them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import VaultError
from ..settings import settings
from .cache import ForceScope, current_scope
from .yamlio import atomic_write_text

#: (path, size, mtime_ns) of objects hashed by this process and found intact
_VERIFIED: set[tuple[str, int, int]] = set()
_VERIFIED_LOCK = threading.Lock()
_CLEANED: set[str] = set()
#: temporary work whose owner is unknown is removed once it is this old (seconds)
STALE_TMP_S = 6 * 3600.0


def _owner_prefix() -> str:
    return f"p{os.getpid()}-"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class StageRecord(BaseModel):
    stage: str
    key: str
    outputs: dict[str, str] = Field(description="name -> object hash")
    meta: dict[str, Any] = Field(default_factory=dict)
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class IntegrityReport(BaseModel):
    checked: int = 0
    corrupt: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="stage outputs not stored")

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing


class Vault:
    def __init__(self, root: str | Path, *, remote: str | None = None) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.stages = self.root / "stages"
        #: the --force in effect for every cache over this vault (``store.cache``): the
        #: context's when the vault is opened inside ``forcing()``, or ``force_vault``'s
        self.force_scope: ForceScope | None = current_scope()
        url = remote if remote is not None else settings().vault_url
        self.remote = None
        if url:
            from .objectstore import store_for

            self.remote = store_for(url)
        key = str(self.root.resolve())
        if key not in _CLEANED:
            _CLEANED.add(key)
            self.clean_stale_tmp()

    def clean_stale_tmp(self, max_age_s: float = STALE_TMP_S) -> list[str]:
        """Remove ``tmp/`` entries left by processes that died (kill -9): an entry named
        ``p<pid>-...`` whose pid is gone, or any entry untouched for ``max_age_s``."""
        from .ledger import pid_alive

        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return []
        removed = []
        now = time.time()
        for entry in tmp.iterdir():
            name = entry.name
            owner = None
            if name.startswith("p") and "-" in name and name[1:name.index("-")].isdigit():
                owner = int(name[1:name.index("-")])
            try:
                newest = max([entry.stat().st_mtime] + [p.stat().st_mtime for p in
                                                        entry.rglob("*")] if entry.is_dir()
                             else [entry.stat().st_mtime])
            except OSError:
                continue
            dead = owner is not None and owner != os.getpid() and not pid_alive(owner)
            if dead or now - newest > max_age_s:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(name)
        return removed

    def work_dir(self, prefix: str = "") -> Path:
        """A fresh folder under ``tmp/`` named for this process (cleaned if it dies)."""
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_owner_prefix() + prefix, dir=tmp))

    def verified(self, digest: str) -> bool:
        """Whether the object is stored and intact (hashed on first read per process, then
        trusted while its size and mtime hold); a corrupt one is quarantined."""
        p = self.path(digest)
        self._pull(digest)
        try:
            st = p.stat()
        except OSError:
            return False
        key = (str(p), st.st_size, st.st_mtime_ns)
        with _VERIFIED_LOCK:
            if key in _VERIFIED:
                return True
        if file_sha256(p) != digest:
            self.quarantine(digest)
            return False
        with _VERIFIED_LOCK:
            _VERIFIED.add(key)
        return True

    # -- objects ---------------------------------------------------------------------
    def path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest

    def has(self, digest: str) -> bool:
        if self.path(digest).is_file():
            return True
        return self.remote is not None and self.remote.has(digest)

    def _pull(self, digest: str) -> None:
        """Fetch an object missing here from the remote store (verified), if there is one."""
        if self.remote is not None and not self.path(digest).is_file():
            self.remote.fetch(digest, self.path(digest))

    def _push(self, digest: str) -> None:
        if self.remote is not None:
            self.remote.publish_file(self.path(digest), digest)

    def get(self, digest: str) -> Path:
        """Path of a stored object; VaultError if absent."""
        p = self.path(digest)
        self._pull(digest)
        if not p.is_file():
            raise VaultError(
                f"object {digest[:12]} is not in the vault",
                file=self.root,
                hint="re-run the stage that produces it (the cache entry is stale)",
            )
        if not self.verified(digest):
            raise VaultError(
                f"object {digest[:12]} is corrupt (its bytes no longer match its hash); it "
                "was moved to quarantine/", file=self.root,
                hint="re-run the stage that produces it (it is re-made or re-fetched), or "
                     "'studio vault verify PROJECT --repair'")
        return p

    def put_bytes(self, data: bytes, suffix: str = "") -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.verified(digest):
            self._commit(digest, lambda fh: fh.write(data))
        self._push(digest)
        return digest

    def put_file(self, src: str | Path, *, move: bool = False) -> str:
        """Store a file's contents (streamed). With ``move``, the source is removed."""
        src = Path(src)
        h = hashlib.sha256()
        with open(src, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        digest = h.hexdigest()
        if not self.verified(digest):  # a bad file of that name is replaced, not kept
            dest = self.path(digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move:
                # unique per call: two threads storing the same bytes must not share a name
                tmp = dest.with_name(f".{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
                shutil.move(str(src), tmp)
                os.replace(tmp, dest)  # same bytes if another writer got there first
                self._push(digest)
                return digest
            def copy(out) -> None:
                with open(src, "rb") as fh_in:
                    shutil.copyfileobj(fh_in, out)

            self._commit(digest, copy)
        self._push(digest)
        if move and src.exists():
            src.unlink()
        return digest

    @contextmanager
    def writer(self, suffix: str = "") -> Iterator[tuple[Path, list[str]]]:
        """Yield a temporary path to write (e.g. an ffmpeg output); on exit it is stored.

        ``with vault.writer('.mp4') as (tmp, out): ...`` then ``out[0]`` is the digest.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmpdir = self.root / "tmp"
        tmpdir.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmpdir, prefix=_owner_prefix(), suffix=suffix)
        os.close(fd)
        tmp = Path(name)
        result: list[str] = []
        try:
            yield tmp, result
            result.append(self.put_file(tmp, move=True))
        finally:
            if tmp.exists():
                tmp.unlink()

    def _commit(self, digest: str, write) -> None:
        dest = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{digest[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- stage cache -----------------------------------------------------------------
    def _record_path(self, stage: str, key: str) -> Path:
        return self.stages / stage / f"{key}.json"

    def lookup(self, stage: str, key: str) -> StageRecord | None:
        """The stage's outputs for inputs hashing to ``key``, if complete in the vault."""
        p = self._record_path(stage, key)
        if not p.is_file() and self.remote is not None:
            text = self.remote.read_record(stage, key)
            if text is not None:
                atomic_write_text(p, text)  # this machine's cache of the record
        if not p.is_file():
            return None
        try:
            rec = StageRecord.model_validate_json(p.read_text(encoding="utf-8"))
        except ValueError:
            return None
        if not all(self.verified(d) for d in rec.outputs.values()):
            return None  # missing or corrupt (quarantined): a miss, the stage runs again
        return rec

    def remember(self, stage: str, key: str, outputs: dict[str, str],
                 meta: dict[str, Any] | None = None) -> StageRecord:
        for name, digest in outputs.items():
            if not self.has(digest):
                raise VaultError(f"stage {stage} output {name!r} ({digest[:12]}) not stored",
                                 file=self.root,
                                 hint="store the object (put_file/writer) before recording "
                                      "the stage")
        rec = StageRecord(stage=stage, key=key, outputs=outputs, meta=meta or {})
        text = rec.model_dump_json(indent=1)
        atomic_write_text(self._record_path(stage, key), text)
        if self.remote is not None:  # after its objects (published when they were stored)
            self.remote.write_record(stage, key, text)
        return rec

    # -- integrity -------------------------------------------------------------------
    def verify(self, progress=None, *, repair: bool = False) -> IntegrityReport:
        """Re-hash every object and check every stage record's outputs exist. ``repair``
        quarantines corrupt objects and removes stage records whose outputs are gone, so
        the next render re-makes them (paid takes are re-fetched by their remote id)."""
        report = IntegrityReport()
        files = [p for p in self.objects.glob("*/*") if not p.name.startswith(".")] \
            if self.objects.exists() else []
        for p in files:
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            report.checked += 1
            if h.hexdigest() != p.name:
                report.corrupt.append(p.name)
                if repair:
                    self.quarantine(p.name)
            if progress:
                progress(1)
        if self.stages.exists():
            for rec_path in self.stages.glob("*/*.json"):
                try:
                    rec = json.loads(rec_path.read_text(encoding="utf-8"))
                except ValueError:
                    report.missing.append(str(rec_path))
                    continue
                gone = [d for d in rec.get("outputs", {}).values() if not self.has(d)]
                report.missing.extend(gone)
                if repair and gone:
                    rec_path.unlink(missing_ok=True)
        return report

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object aside so the stage that made it runs again."""
        p = self.path(digest)
        if p.exists():
            bad = self.root / "quarantine"
            bad.mkdir(parents=True, exist_ok=True)
            os.replace(p, bad / digest)

    # -- gc primitives (studio_kit.surfaces.asset_vault decides what is unreferenced) ----------------
    def iter_objects(self) -> Iterator[tuple[str, Path, int]]:
        """(digest, path, size) of every stored object."""
        if not self.objects.exists():
            return
        for p in sorted(self.objects.glob("*/*")):
            if not p.name.startswith(".") and p.is_file():
                yield p.name, p, p.stat().st_size

    def iter_record_paths(self) -> list[Path]:
        return sorted(self.stages.glob("*/*.json")) if self.stages.exists() else []

    def remove_record(self, path: Path) -> None:
        """Delete one stage record (durably: its folder is fsynced)."""
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def remove_object(self, digest: str) -> None:
        """Delete one object (durably). Callers remove the records naming it first."""
        p = self.path(digest)
        p.unlink(missing_ok=True)
        _fsync_dir(p.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
