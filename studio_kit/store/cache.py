"""One cache over the vault: every re-render cache (stage results, TTS lines, QC reference
stills, encoded pieces, audio layers, conformed tracks, ...) is a :class:`Cache`.

A cache is a *namespace* of the vault's stage records (``stages/<namespace>/<key>.json``):
a key (``Cache.key(*inputs)``, a :func:`~studio_kit.store.hashing.stable_hash` of the
namespace and the inputs, or a key the caller already hashes) maps to vault objects plus a
little metadata. ``put`` stores the objects first and writes the record after them (each
atomically, see ``store.vault``), so a record never names a missing object; ``lookup``
verifies the objects (a damaged one is a miss). Every cache counts its hits, misses and
puts (per instance, and per namespace for the process: :func:`stats`).

``--force`` is ONE mechanism for every cache: a :class:`ForceScope`. Inside a scope a
forceable cache does not reuse anything made before the scope began; what is made while it
lasts is reused (a forced render speaks each line once, not once per stage that needs it).
A scope is opened with :func:`forcing` (a context variable: this thread or task and the
vaults opened inside it) or bound to one vault object with :func:`force_vault` (every
thread that uses that vault, e.g. a render's worker pools). Paid generations
(``generation``) are not forceable: ``--force`` never pays for a take again; a new take is
a new request (``studio regenerate``).

Namespaces keep their historical on-disk names (so existing vaults keep hitting);
:data:`NAMESPACES` lists them in one place with what they hold.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hashing import stable_hash

if TYPE_CHECKING:
    import numpy as np

    from .vault import StageRecord, Vault


@dataclass(frozen=True)
class Namespace:
    """A kind of cache entry: its stage-record folder, what it holds, whether ``--force``
    re-makes it."""

    name: str
    what: str
    forceable: bool = True


#: every cache the project keeps in the vault, by on-disk name (pipeline stages such as
#: ``dialogue``, ``generate`` or ``mux`` are caches too: named by their stage)
NAMESPACES: dict[str, Namespace] = {}


def namespace(name: str, what: str, *, forceable: bool = True) -> Namespace:
    """Declare a cache namespace (idempotent; a conflicting redeclaration is an error)."""
    ns = Namespace(name, what, forceable)
    have = NAMESPACES.setdefault(name, ns)
    if have.forceable != forceable:
        raise ValueError(f"cache namespace {name!r} is already declared with "
                         f"forceable={have.forceable}")
    return have


for _name, _what, _forceable in (
    ("tts", "a synthesized line (samples .npy; phonemes, visemes, voice in meta)", True),
    ("qc-reference", "a QC reference still's measures (JSON)", True),
    ("transition_region", "a re-encoded transition region (H.264 piece)", True),
    ("prores_piece", "a ProRes piece of the master (one GOP range)", True),
    ("aac_track", "an encoded AAC track", True),
    ("audio_layer", "music / ambience / effects layers and dub masters (.npy arrays)", True),
    ("conform_track", "a sound track conformed to the edit (WAV)", True),
    ("last-frame", "a clip's last frame (PNG) for the next shot's conditioning", True),
    ("generation", "a generated take (paid or local): never re-paid by --force", False),
):
    namespace(_name, _what, forceable=_forceable)


# -- --force ------------------------------------------------------------------------------
class ForceScope:
    """A forced run in progress: entries made before it are not reused, entries made while
    it lasts are (thread-safe: a render's pools share one scope)."""

    def __init__(self) -> None:
        self._made: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def mark(self, namespace: str, key: str) -> None:
        with self._lock:
            self._made.add((namespace, key))

    def made(self, namespace: str, key: str) -> bool:
        with self._lock:
            return (namespace, key) in self._made


_SCOPE: ContextVar[ForceScope | None] = ContextVar("studio_force_scope", default=None)


def current_scope() -> ForceScope | None:
    """The force scope of this thread or task (None: not forcing)."""
    return _SCOPE.get()


@contextmanager
def forcing(on: bool = True) -> Iterator[ForceScope | None]:
    """``with forcing(): ...``: every forceable cache re-makes what it is asked for (once)
    in this thread or task and in every vault opened inside it. ``forcing(False)`` changes
    nothing (so callers can pass a flag through)."""
    if not on:
        yield _SCOPE.get()
        return
    scope = _SCOPE.get() or ForceScope()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def force_vault(vault: Vault, on: bool = True) -> Vault:
    """Bind a force scope to this vault object (kept if it has one already): every cache
    over it, in any thread, then re-makes what it is asked for once. Returns the vault."""
    if on and getattr(vault, "force_scope", None) is None:
        vault.force_scope = _SCOPE.get() or ForceScope()
    return vault


def scope_for(vault: Any) -> ForceScope | None:
    """The force scope a cache over ``vault`` obeys: the vault's, else the context's."""
    return getattr(vault, "force_scope", None) or _SCOPE.get()


# -- counts -------------------------------------------------------------------------------
@dataclass
class CacheCounts:
    hits: int = 0
    misses: int = 0
    puts: int = 0
    forced: int = 0  # misses because a force scope did not reuse an entry

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "puts": self.puts,
                "forced": self.forced}


_STATS: dict[str, CacheCounts] = {}
_STATS_LOCK = threading.Lock()


def stats() -> dict[str, dict[str, int]]:
    """Hits, misses, puts and forced misses per namespace since :func:`reset_stats`."""
    with _STATS_LOCK:
        return {k: v.as_dict() for k, v in sorted(_STATS.items())}


def reset_stats() -> None:
    with _STATS_LOCK:
        _STATS.clear()


# -- the cache ----------------------------------------------------------------------------
class Cache:
    """One namespace of the vault's stage records as a cache (see module doc).

    ``force``: True gives this cache a force scope of its own (it re-makes every key once);
    None (default) obeys the vault's or the context's scope (:func:`force_vault`,
    :func:`forcing`); False never forces."""

    def __init__(self, vault: Vault, namespace_name: str, *, force: bool | None = None) -> None:
        self.vault = vault
        self.namespace = namespace_name
        ns = NAMESPACES.get(namespace_name)
        self.forceable = ns.forceable if ns is not None else True
        self._own_scope = ForceScope() if force else None
        self._never = force is False
        self.counts = CacheCounts()

    # -- keys / scope ------------------------------------------------------------------
    def key(self, *inputs: Any) -> str:
        """A key for ``inputs``: the stable hash of the namespace and the inputs."""
        return stable_hash(self.namespace, *inputs)

    @property
    def scope(self) -> ForceScope | None:
        if self._never or not self.forceable:
            return None
        return self._own_scope or scope_for(self.vault)

    @property
    def forcing(self) -> bool:
        return self.scope is not None

    def _count(self, field: str) -> None:
        setattr(self.counts, field, getattr(self.counts, field) + 1)
        with _STATS_LOCK:
            c = _STATS.setdefault(self.namespace, CacheCounts())
            setattr(c, field, getattr(c, field) + 1)

    # -- lookup ------------------------------------------------------------------------
    def peek(self, key: str) -> StageRecord | None:
        """The stored record for ``key`` whatever the force scope (reading what a run
        recorded, e.g. the credits' speakers); not counted."""
        return self.vault.lookup(self.namespace, key)

    def lookup(self, key: str) -> StageRecord | None:
        """The record for ``key`` if it may be reused (complete and verified in the vault,
        and not older than a force scope in effect), else None (a miss)."""
        scope = self.scope
        if scope is not None and not scope.made(self.namespace, key):
            self._count("misses")
            self._count("forced")
            return None
        rec = self.vault.lookup(self.namespace, key)
        self._count("hits" if rec is not None else "misses")
        return rec

    def get_file(self, key: str, name: str) -> Path | None:
        """The path of output ``name`` of a reusable entry (None: a miss)."""
        rec = self.lookup(key)
        if rec is None or name not in rec.outputs:
            return None
        return self.vault.get(rec.outputs[name])

    def get_json(self, key: str, name: str) -> Any | None:
        path = self.get_file(key, name)
        return None if path is None else json.loads(path.read_text(encoding="utf-8"))

    def get_arrays(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Every output of an entry loaded as a NumPy array (.npy objects), and its meta."""
        import numpy as np

        rec = self.lookup(key)
        if rec is None:
            return None
        return ({name: np.load(self.vault.get(d), allow_pickle=False)
                 for name, d in rec.outputs.items()}, rec.meta)

    # -- publish -----------------------------------------------------------------------
    def put(self, key: str, *, files: dict[str, Path] | None = None,
            data: dict[str, bytes] | None = None, digests: dict[str, str] | None = None,
            meta: dict[str, Any] | None = None) -> StageRecord:
        """Store an entry: ``files`` (moved into the vault), ``data`` (bytes) and
        ``digests`` (objects already stored), then its record (objects first, each write
        atomic: a crash leaves the old entry or the whole new one)."""
        outputs = dict(digests or {})
        for name, blob in (data or {}).items():
            outputs[name] = self.vault.put_bytes(blob)
        for name, path in (files or {}).items():
            outputs[name] = self.vault.put_file(path, move=True)
        rec = self.vault.remember(self.namespace, key, outputs, meta or {})
        scope = self.scope
        if scope is not None:
            scope.mark(self.namespace, key)
        self._count("puts")
        return rec

    def put_json(self, key: str, name: str, value: Any,
                 meta: dict[str, Any] | None = None) -> StageRecord:
        return self.put(key, data={name: json.dumps(value, sort_keys=True).encode("utf-8")},
                        meta=meta)

    def put_arrays(self, key: str, arrays: dict[str, np.ndarray],
                   meta: dict[str, Any] | None = None) -> StageRecord:
        """Each array as a .npy object (written in the vault's own tmp/, moved in)."""
        import numpy as np

        tmp_root = self.vault.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        with tempfile.TemporaryDirectory(prefix=f"p{os.getpid()}-{self.namespace}-",
                                         dir=tmp_root) as tmp:
            for name, arr in arrays.items():
                path = Path(tmp) / f"{len(files)}.npy"
                np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
                files[name] = path
            return self.put(key, files=files, meta=meta)

    def get_or_make(self, key: str, name: str, make: Callable[[], Any]) -> Any:
        """A JSON value: the cached one, else ``make()`` stored under ``key``."""
        value = self.get_json(key, name)
        if value is None:
            value = make()
            self.put_json(key, name, value)
        return value


class FolderCache:
    """Files kept in a folder as ``<prefix><key><suffix>``: the caches that have no vault
    (a scratch folder of pieces, a feature's ``.feature-pieces/`` shared by the features
    written beside it). Same counts as :class:`Cache` (under ``namespace``) and the same
    ``--force`` (the context's scope: :func:`forcing`; or ``force=True``); ``publish``
    renames a finished file into place (atomic on one filesystem)."""

    def __init__(self, root: Path, namespace_name: str, *, prefix: str = "",
                 suffix: str = "", force: bool | None = None) -> None:
        self.root = Path(root)
        self.namespace = namespace_name
        self.prefix = prefix
        self.suffix = suffix
        self._own_scope = ForceScope() if force else None
        self._never = force is False
        self.counts = CacheCounts()

    _count = Cache._count

    @property
    def scope(self) -> ForceScope | None:
        return None if self._never else self._own_scope or _SCOPE.get()

    def path(self, key: str) -> Path:
        return self.root / f"{self.prefix}{key}{self.suffix}"

    def part(self, key: str) -> Path:
        """Where to write the file before :meth:`publish` (named for this process, ending
        in the suffix so tools pick the format from it)."""
        return self.root / f"{self.prefix}{key}.p{os.getpid()}.part{self.suffix}"

    def get(self, key: str) -> Path | None:
        scope = self.scope
        p = self.path(key)
        if scope is not None and not scope.made(self.namespace, key):
            self._count("misses")
            self._count("forced")
            return None
        self._count("hits" if p.is_file() else "misses")
        return p if p.is_file() else None

    def publish(self, key: str, src: Path) -> Path:
        dst = self.path(key)
        os.replace(src, dst)
        scope = self.scope
        if scope is not None:
            scope.mark(self.namespace, key)
        self._count("puts")
        return dst

    put = publish


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes (no pickle)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
