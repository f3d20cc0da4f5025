"""The vault's objects and stage records on any fsspec filesystem (S3, GCS, MinIO, a folder).

``ObjectStore(url)`` keeps the vault's layout under ``url``::

    <url>/objects/ab/<sha256>           content-addressed objects
    <url>/stages/<stage>/<key>.json     stage records
    <url>/tmp/<uuid>                    uploads in progress

Publishing is atomic on object stores: an object is uploaded under a temporary key, then
copied to its final key (a server-side copy is all or nothing) and the temporary key
removed, so a reader never sees a partial object under its final hash. Downloads are
verified against the hash before they are renamed into the local cache.

Credentials and endpoints come from the environment only (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``FSSPEC_S3_ENDPOINT_URL`` ... - fsspec's own conventions); they
are never written to a manifest, a notebook or the ledger.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path

from ..errors import VaultError
from .hashing import is_digest

#: the environment variable that puts a project's vault on an fsspec URL
VAULT_URL_ENV = "STUDIO_VAULT_URL"


def _redacted(url: str) -> str:
    """The URL without any user:password part."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


class ObjectStore:
    """One fsspec location holding a vault's objects and stage records."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            options = {}
            protocol = fsspec.utils.get_protocol(self.url)
            if protocol in ("s3", "s3a"):
                options["use_listings_cache"] = False  # other workers write beside us
                # the endpoint as the environment says now (fsspec reads its FSSPEC_* config
                # once, at import)
                endpoint = os.environ.get("FSSPEC_S3_ENDPOINT_URL") or \
                    os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                if endpoint:
                    options["endpoint_url"] = endpoint
            self.fs, self.base = fsspec.core.url_to_fs(self.url, **options)
        except (ImportError, ValueError) as exc:
            raise VaultError(f"the vault URL {_redacted(self.url)} cannot be opened: {exc}",
                             field=VAULT_URL_ENV,
                             hint="use a folder or an fsspec URL such as s3://bucket/prefix "
                                  "(install s3fs/gcsfs for those)") from None
        self.atomic_rename = protocol in ("file", "local")
        self.base = self.base.rstrip("/")

    def __repr__(self) -> str:
        return f"ObjectStore({_redacted(self.url)!r})"

    # -- keys ------------------------------------------------------------------------
    def object_key(self, digest: str) -> str:
        return f"{self.base}/objects/{digest[:2]}/{digest}"

    def record_key(self, stage: str, key: str) -> str:
        return f"{self.base}/stages/{stage}/{key}.json"

    def _fail(self, what: str, exc: Exception) -> VaultError:
        return VaultError(f"the vault at {_redacted(self.url)} could not {what}: "
                          f"{type(exc).__name__}: {exc}", field=VAULT_URL_ENV,
                          hint="check that the bucket exists and is reachable, and that "
                               "its credentials are in the environment (AWS_ACCESS_KEY_ID, "
                               "AWS_SECRET_ACCESS_KEY, FSSPEC_S3_ENDPOINT_URL for MinIO)")

    def _exists(self, key: str) -> bool:
        try:
            self.fs.info(key)
            return True
        except FileNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001 - a network or permission error, explained
            raise self._fail(f"read {key}", exc) from None

    # -- objects ---------------------------------------------------------------------
    def has(self, digest: str) -> bool:
        return self._exists(self.object_key(digest))

    def publish_file(self, local: Path, digest: str) -> None:
        """Upload ``local`` (whose sha256 is ``digest``) unless the store has it already:
        under a temporary key first, then copied into place."""
        final = self.object_key(digest)
        if self._exists(final):
            return
        tmp = f"{self.base}/tmp/{uuid.uuid4().hex}"
        try:
            self.fs.put_file(str(local), tmp)
            self._place(tmp, final)
        except VaultError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail(f"store object {digest[:12]}", exc) from None
        finally:
            try:
                if self._exists(tmp):
                    self.fs.rm_file(tmp)
            except Exception:  # noqa: BLE001 - a leftover temporary key is harmless
                pass

    def _place(self, tmp: str, final: str) -> None:
        if self.atomic_rename:
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(tmp, final)
        else:
            self.fs.copy(tmp, final)  # server-side copy: the final key is whole or absent

    def fetch(self, digest: str, dest: Path) -> bool:
        """Download the object into ``dest`` (verified, atomically); False if absent."""
        key = self.object_key(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{digest[:8]}.", suffix=".get")
        os.close(fd)
        try:
            try:
                self.fs.get_file(key, tmp)
            except FileNotFoundError:
                return False
            except Exception as exc:  # noqa: BLE001
                raise self._fail(f"read object {digest[:12]}", exc) from None
            h = hashlib.sha256()
            with open(tmp, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            if h.hexdigest() != digest:
                raise VaultError(f"object {digest[:12]} in {_redacted(self.url)} is corrupt "
                                 "(its bytes do not match its hash)", field=VAULT_URL_ENV,
                                 hint="delete that key; the stage that made it runs again")
            os.replace(tmp, dest)
            return True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- stage records ---------------------------------------------------------------
    def read_record(self, stage: str, key: str) -> str | None:
        try:
            return self.fs.cat_file(self.record_key(stage, key)).decode("utf-8")
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise self._fail(f"read stage record {stage}/{key[:12]}", exc) from None

    def write_record(self, stage: str, key: str, text: str) -> None:
        tmp = f"{self.base}/tmp/{uuid.uuid4().hex}.json"
        try:
            self.fs.pipe_file(tmp, text.encode("utf-8"))
            self._place(tmp, self.record_key(stage, key))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(f"write stage record {stage}/{key[:12]}", exc) from None
        finally:
            try:
                if self._exists(tmp):
                    self.fs.rm_file(tmp)
            except Exception:  # noqa: BLE001
                pass


def store_for(url: str | None) -> ObjectStore | None:
    """The store for ``url`` (None: the local folder only). ``url`` may be a plain path."""
    if not url:
        return None
    if "://" not in url:
        url = "file://" + str(Path(url).resolve())
    return ObjectStore(url)


# -- listing and removal (``studio vault verify`` / ``gc`` on a bucket: scale.bucket) ------
def _digest_of(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1]
    if is_digest(name):
        return name
    return None


def _listing(store: ObjectStore, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every file under ``<base>/<prefix>`` (one recursive listing)."""
    try:
        found = store.fs.find(f"{store.base}/{prefix}", detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:  # noqa: BLE001
        raise store._fail(f"list {prefix}/", exc) from None
    return sorted((k, int(info.get("size") or 0)) for k, info in found.items()
                  if info.get("type", "file") != "directory")


def iter_remote_objects(store: ObjectStore) -> list[tuple[str, str, int]]:
    """(digest, key, size) of every object in the store (temporary uploads excluded)."""
    out = []
    for key, size in _listing(store, "objects"):
        digest = _digest_of(key)
        if digest is not None and key == store.object_key(digest):
            out.append((digest, key, size))
    return out


def iter_remote_records(store: ObjectStore) -> list[tuple[str, str]]:
    """(stage, key) of every stage record in the store."""
    out = []
    root = f"{store.base}/stages/"
    for key, _size in _listing(store, "stages"):
        rel = key[len(root):] if key.startswith(root) else ""
        if rel.count("/") == 1 and rel.endswith(".json"):
            stage, name = rel.split("/")
            out.append((stage, name[:-len(".json")]))
    return out


def remote_sha256(store: ObjectStore, key: str) -> str:
    """The sha256 of the bytes under ``key``, streamed from the store (nothing is written
    here)."""
    h = hashlib.sha256()
    try:
        with store.fs.open(key, "rb", block_size=1 << 22) as fh:
            while block := fh.read(1 << 22):
                h.update(block)
    except Exception as exc:  # noqa: BLE001
        raise store._fail(f"read {key}", exc) from None
    return h.hexdigest()


def remove_remote(store: ObjectStore, key: str) -> None:
    try:
        store.fs.rm_file(key)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise store._fail(f"delete {key}", exc) from None


def quarantine_remote(store: ObjectStore, digest: str) -> None:
    """Move a corrupt object to ``<url>/quarantine/<digest>`` (a copy, then the delete), so
    a reader misses it and the stage that made it runs again."""
    key = store.object_key(digest)
    try:
        if store.atomic_rename:
            store.fs.makedirs(f"{store.base}/quarantine", exist_ok=True)
        store.fs.copy(key, f"{store.base}/quarantine/{digest}")
    except Exception as exc:  # noqa: BLE001
        raise store._fail(f"quarantine object {digest[:12]}", exc) from None
    remove_remote(store, key)
