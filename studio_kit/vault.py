"""The asset vault: a content-addressed store plus a stage cache keyed by input hashes.

Layout under ``<project>/.studio/vault/``::

    objects/ab/abcdef...        file contents, named by their sha256
    stages/<stage>/<key>.json   a StageRecord: which objects a stage produced from inputs
                                whose hash is <key>

Objects are written to a temporary file, hashed while streaming, fsynced and renamed, so a
crash leaves either no object or a whole one. Stage records are written after their
objects, so a record never points at a missing object unless someone deletes files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import VaultError
from .yamlio import atomic_write_text


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
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.stages = self.root / "stages"

    # -- objects ---------------------------------------------------------------------
    def path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def get(self, digest: str) -> Path:
        """Path of a stored object; VaultError if absent."""
        p = self.path(digest)
        if not p.is_file():
            raise VaultError(
                f"object {digest[:12]} is not in the vault",
                file=self.root,
                hint="re-run the stage that produces it (the cache entry is stale)",
            )
        return p

    def put_bytes(self, data: bytes, suffix: str = "") -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.has(digest):
            self._commit(digest, lambda fh: fh.write(data))
        return digest

    def put_file(self, src: str | Path, *, move: bool = False) -> str:
        """Store a file's contents (streamed). With ``move``, the source is removed."""
        src = Path(src)
        h = hashlib.sha256()
        with open(src, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        digest = h.hexdigest()
        if not self.has(digest):
            dest = self.path(digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move:
                # unique per call: two threads storing the same bytes must not share a name
                tmp = dest.with_name(f".{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
                shutil.move(str(src), tmp)
                os.replace(tmp, dest)  # same bytes if another writer got there first
                return digest
            def copy(out) -> None:
                with open(src, "rb") as fh_in:
                    shutil.copyfileobj(fh_in, out)

            self._commit(digest, copy)
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
        fd, name = tempfile.mkstemp(dir=tmpdir, suffix=suffix)
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
        if not p.is_file():
            return None
        try:
            rec = StageRecord.model_validate_json(p.read_text(encoding="utf-8"))
        except ValueError:
            return None
        if not all(self.has(d) for d in rec.outputs.values()):
            return None
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
        atomic_write_text(self._record_path(stage, key), rec.model_dump_json(indent=1))
        return rec

    # -- integrity -------------------------------------------------------------------
    def verify(self, progress=None) -> IntegrityReport:
        """Re-hash every object and check every stage record's outputs exist."""
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
            if progress:
                progress(1)
        if self.stages.exists():
            for rec_path in self.stages.glob("*/*.json"):
                try:
                    rec = json.loads(rec_path.read_text(encoding="utf-8"))
                except ValueError:
                    report.missing.append(str(rec_path))
                    continue
                for digest in rec.get("outputs", {}).values():
                    if not self.has(digest):
                        report.missing.append(digest)
        return report

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object aside so the stage that made it runs again."""
        p = self.path(digest)
        if p.exists():
            bad = self.root / "quarantine"
            bad.mkdir(parents=True, exist_ok=True)
            os.replace(p, bad / digest)
