"""Publishing a release (the deliverables of an episode) behind Gate C.

A ``Release`` is what ``hub.build_release`` made in the project's staging folder: per
platform the deliverable video, caption sidecars, the chosen thumbnail, the metadata JSON
and the provenance report, each with its sha256. ``publish(project, release, "folder",
dest=...)`` re-checks Gate C (the release's master must still be the approved one), checks
every file is as it was built, then hands it to a publisher from ``registry.PUBLISHERS``:

- ``folder``: copies the release into a folder (atomic per file) with ``publish.json``;
- ``tus``: uploads every file to a platform's upload API with the tus 1.0 resumable
  protocol (``POST`` creates an upload, ``PATCH`` sends chunks at ``Upload-Offset``, ``HEAD``
  tells how much arrived), then registers the release (``POST <endpoint>/releases`` with the
  metadata and the uploads' locations). A 5xx or a dropped connection is retried with
  backoff, resuming from the offset the server reports. The API token is read from the
  environment (``STUDIO_UPLOAD_TOKEN`` by default) at call time and sent only in the
  ``Authorization`` header: it is never logged, stored in the receipt, the ledger or any file.

Every publish is recorded in the ledger (``stage_results``, stage ``publish``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..production.gates import GateError, require_gate_c
from ..registry import PUBLISHERS
from ..store.hashing import file_hash
from ..store.yamlio import atomic_copy, atomic_write_text

log = logging.getLogger(__name__)
TOKEN_ENV = "STUDIO_UPLOAD_TOKEN"
TUS_VERSION = "1.0.0"


class ReleaseFile(BaseModel):
    role: str = Field(description="video, caption, thumbnail, metadata, provenance")
    path: str = Field(description="Relative to the release folder.")
    sha256: str
    size: int
    language: str | None = None


class PlatformRelease(BaseModel):
    platform: str
    files: list[ReleaseFile]
    metadata: dict[str, Any]

    def file(self, role: str) -> ReleaseFile:
        return next(f for f in self.files if f.role == role)


class Release(BaseModel):
    episode: str
    master: str
    master_sha256: str
    root: str = Field(description="The folder the release was built in.")
    approved_by: str | None = None
    approved_at: str | None = None
    built_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    platforms: list[PlatformRelease]


class Receipt(BaseModel):
    publisher: str
    episode: str
    master_sha256: str
    target: str
    published_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    items: list[dict[str, Any]] = Field(default_factory=list)


class Publisher(Protocol):
    name: str

    def publish(self, release: Release, **options: Any) -> Receipt: ...


def release_file(root: Path, path: Path, role: str, language: str | None = None) -> ReleaseFile:
    return ReleaseFile(role=role, path=path.relative_to(root).as_posix(),
                       sha256=file_hash(path), size=path.stat().st_size, language=language)


def check_release(release: Release) -> None:
    """StudioError unless every file of the release is there, as it was built."""
    root = Path(release.root)
    for p in release.platforms:
        for f in p.files:
            path = root / f.path
            if not path.is_file() or file_hash(path) != f.sha256:
                raise StudioError("a release file is missing or changed since the release "
                                  "was built", file=path, field=f"{p.platform}.{f.role}",
                                  hint="build the release again (Distribution Hub: publish)")


def publish(project, release: Release, publisher: str = "folder", **options: Any) -> Receipt:
    """Publish ``release`` through ``publisher``: only if Gate C still approves its master."""
    from ..project.series_folder import Project

    proj = project if isinstance(project, Project) else Project.load(project)
    target = PUBLISHERS.get(publisher)
    if isinstance(target, type):  # a class registered: one instance per publish
        target = target()
    with proj.ledger() as ledger:
        status = require_gate_c(ledger, release.episode, release.master, action="published")
        if status.current_hash != release.master_sha256:
            raise GateError("the release was built from another master than the one Gate C "
                            "approved", file=release.master, field="gate C",
                            hint="build the release again from the approved master")
    check_release(release)
    receipt = target.publish(release, **options)
    with proj.ledger() as ledger:
        ledger.stage_result(None, "publish", release.master_sha256, cache_hit=False,
                            subject=release.episode,
                            outputs={"publisher": publisher, "target": receipt.target,
                                     "platforms": ",".join(p.platform for p in release.platforms)})
    atomic_write_text(Path(release.root) / f"receipt.{publisher}.json",
                      receipt.model_dump_json(indent=2) + "\n")
    return receipt


@PUBLISHERS.register("folder")
class FolderPublisher:
    """Copy the release into ``dest`` (``dest/<platform>/...`` and ``dest/publish.json``)."""

    name = "folder"

    @staticmethod
    def publish(release: Release, *, dest: str | Path | None = None, **_: Any) -> Receipt:
        if not dest:
            raise StudioError("publishing to a folder needs the folder", field="dest",
                              hint="pass dest=PATH (the surface: the 'publish to' field)")
        dest = Path(dest).expanduser().resolve()
        root = Path(release.root).resolve()
        if dest == root or root in dest.parents:
            raise StudioError("the publish folder is inside the release's staging folder",
                              file=dest, field="dest", hint="choose a folder outside .studio/")
        items = []
        for p in release.platforms:
            for f in p.files:
                atomic_copy(root / f.path, dest / f.path)
                items.append({"platform": p.platform, "role": f.role, "path": f.path})
        record = release.model_copy(update={"root": str(dest)})
        atomic_write_text(dest / "publish.json", record.model_dump_json(indent=2) + "\n")
        return Receipt(publisher="folder", episode=release.episode,
                       master_sha256=release.master_sha256, target=str(dest), items=items)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class UploadError(StudioError):
    """A platform's upload API refused or kept failing."""


@PUBLISHERS.register("tus")
class TusPublisher:
    """Upload a release to a platform's tus 1.0 endpoint (see the module doc).

    Options: ``endpoint`` (the API base URL: uploads at ``<endpoint>/files``, the release
    at ``<endpoint>/releases``), ``token_env`` (the environment variable holding the API
    token), ``chunk_bytes``, ``retries`` (per request), ``backoff_s`` (doubled per retry)."""

    name = "tus"

    def publish(self, release: Release, *, endpoint: str | None = None,
                token_env: str = TOKEN_ENV, chunk_bytes: int = 256 * 1024, retries: int = 4,
                backoff_s: float = 0.25, timeout_s: float = 30.0, **_: Any) -> Receipt:
        import httpx

        if not endpoint:
            raise StudioError("uploading needs the platform's API endpoint", field="endpoint",
                              hint="pass endpoint=https://... (the platform's upload API)")
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise StudioError(f"no upload token in ${token_env}", field=token_env,
                              hint=f"export {token_env}=... (the platform's API token); it is "
                              "read from the environment only, never from a file")
        if chunk_bytes <= 0 or retries < 0:
            raise StudioError("chunk_bytes must be > 0 and retries >= 0", field="chunk_bytes",
                              hint="e.g. chunk_bytes=262144, retries=4")
        self.retries, self.backoff_s, self.chunk_bytes = retries, backoff_s, chunk_bytes
        self._token = token
        base = endpoint.rstrip("/")
        root = Path(release.root)
        items = []
        headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": TUS_VERSION}
        with httpx.Client(headers=headers, timeout=timeout_s, follow_redirects=False) as client:
            for p in release.platforms:
                locations: dict[str, str] = {}
                for f in p.files:
                    key = f.role if f.language is None else f"{f.role}.{f.language}"
                    locations[key] = self._upload(client, base, root / f.path, f, p.platform)
                r = self._request(client, "POST", f"{base}/releases", json={
                    "episode": release.episode, "platform": p.platform,
                    "metadata": p.metadata, "files": locations,
                    "sha256": {(f.role if f.language is None else f"{f.role}.{f.language}"):
                               f.sha256 for f in p.files}})
                self._expect(r, (200, 201), "register the release")
                body = r.json()
                items.append({"platform": p.platform, "id": body.get("id"),
                              "url": body.get("url"), "files": locations})
                log.info("published %s %s as %s", release.episode, p.platform, body.get("id"))
        return Receipt(publisher="tus", episode=release.episode,
                       master_sha256=release.master_sha256, target=base, items=items)

    # -- HTTP with retries -------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if getattr(self, "_token", "") else text

    def _request(self, client, method: str, url: str, **kw: Any):
        import httpx

        last = ""
        for attempt in range(self.retries + 1):
            try:
                r = client.request(method, url, **kw)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            else:
                if r.status_code < 500:
                    return r
                last = f"HTTP {r.status_code}"
            log.warning("%s %s: %s (attempt %d of %d)", method, url, last, attempt + 1,
                        self.retries + 1)
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** attempt)
        raise UploadError(f"{method} {url} kept failing ({last}) after {self.retries + 1} "
                          "attempts", field="endpoint",
                          hint="the platform is failing: try again later")

    def _expect(self, r, ok: tuple[int, ...], what: str) -> None:
        if r.status_code in ok:
            return
        if r.status_code in (401, 403):
            raise UploadError(f"the platform refused the upload token (HTTP {r.status_code}) "
                              f"trying to {what}", field="token",
                              hint="check the token in the environment variable and its rights")
        raise UploadError(f"the platform answered HTTP {r.status_code} trying to {what}: "
                          f"{self._scrub(r.text[:200])}", field="endpoint",
                          hint="check the endpoint and the files")

    def _offset(self, client, location: str) -> int:
        r = self._request(client, "HEAD", location)
        self._expect(r, (200, 204), "resume an upload")
        return int(r.headers["Upload-Offset"])

    def _upload(self, client, base: str, path: Path, f: ReleaseFile, platform: str) -> str:
        import httpx

        size = path.stat().st_size
        meta = ",".join(f"{k} {_b64(v)}" for k, v in (
            ("filename", path.name), ("platform", platform), ("role", f.role),
            ("sha256", f.sha256), *((("language", f.language),) if f.language else ())))
        r = self._request(client, "POST", f"{base}/files",
                          headers={"Upload-Length": str(size), "Upload-Metadata": meta})
        self._expect(r, (201,), f"create the upload of {path.name}")
        location = str(httpx.URL(base + "/").join(r.headers["Location"]))
        offset, failures = 0, 0
        with open(path, "rb") as fh:
            while offset < size:
                fh.seek(offset)
                chunk = fh.read(self.chunk_bytes)
                try:
                    r = client.patch(location, content=chunk, headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream"})
                except httpx.TransportError as exc:
                    r, why = None, type(exc).__name__
                else:
                    why = f"HTTP {r.status_code}"
                    if r.status_code == 204:
                        offset, failures = int(r.headers["Upload-Offset"]), 0
                        continue
                    if r.status_code < 500 and r.status_code != 409:
                        self._expect(r, (204,), f"upload {path.name}")
                failures += 1
                log.warning("PATCH %s at offset %d: %s (failure %d of %d)", location, offset,
                            why, failures, self.retries + 1)
                if failures > self.retries:
                    raise UploadError(f"uploading {path.name} kept failing ({why})",
                                      file=path, field="endpoint",
                                      hint="the platform is failing: try again later")
                time.sleep(self.backoff_s * 2 ** (failures - 1))
                offset = self._offset(client, location)  # resume where the server is
        log.info("uploaded %s (%d bytes) to %s", path.name, size, location)
        return location


def load_release(path: str | Path) -> Release:
    path = Path(path)
    try:
        return Release.model_validate_json(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"cannot read the release: {exc}", file=path,
                          hint="build the release again (Distribution Hub: publish)") from None


def save_release(release: Release, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(release.model_dump(mode="json"), indent=2) + "\n")
    return path
