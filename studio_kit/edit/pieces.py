"""Caches of encoded pieces (transition regions, ProRes pieces, AAC tracks) kept between
renders.

A piece is a file named by a key that hashes everything it was made from (source content,
frame range, encode parameters), so a re-render re-encodes only pieces whose inputs
changed. The pipeline keeps pieces in the project's vault; a caller without a vault gets a
scratch folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..store.vault import Vault


class PieceCache(Protocol):
    """Where encoded pieces are kept between renders."""

    def get(self, key: str) -> Path | None: ...

    def put(self, key: str, path: Path) -> Path: ...


class DirPieces:
    """Pieces as ``<root>/<key><suffix>`` files (a scratch folder, or a kept work folder):
    a ``store.cache.FolderCache`` (counts; a ``forcing()`` scope re-encodes them)."""

    def __init__(self, root: Path, suffix: str) -> None:
        from ..store.cache import FolderCache

        self.root = root
        self.suffix = suffix
        self.cache = FolderCache(root, "pieces-folder", suffix=suffix)

    def get(self, key: str) -> Path | None:
        return self.cache.get(key)

    def put(self, key: str, path: Path) -> Path:
        return self.cache.publish(key, path)


class VaultPieces:
    """Pieces kept in the vault: a ``kind`` cache (``transition_region``, ``prores_piece``,
    ``aac_track``; ``store.cache.Cache``) maps each piece key to a vault object.
    ``force``: never reuse what an earlier run made, only store (a forced render re-encodes
    everything); by default the vault's or the context's ``--force`` scope decides."""

    def __init__(self, vault: Vault, kind: str, *, force: bool | None = None) -> None:
        from ..store.cache import Cache

        self.vault = vault
        self.kind = kind
        self.cache = Cache(vault, kind, force=True if force else None)

    @property
    def force(self) -> bool:
        return self.cache.forcing

    def get(self, key: str) -> Path | None:
        return self.cache.get_file(key, "piece")

    def put(self, key: str, path: Path) -> Path:
        rec = self.cache.put(key, files={"piece": path})
        return self.vault.get(rec.outputs["piece"])
