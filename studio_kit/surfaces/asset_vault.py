"""Every asset of a project, where it came from, what it cost, where it is used; and the
vault's garbage collector.

The **index** (``asset_index``) lists each object of the vault once, with its kind (take,
reference, audio, master, piece, other), the shot / episode / characters / engine / date it
belongs to, its provenance chain (request -> engine call -> stage records that made or used
it, with the prompt and ingredients read from the stored request JSON), its cost from the
ledger's ``engine_calls`` and where it is used (which episodes' latest renders). It reads
the ledger, the vault's stage records and the storyboards; it writes nothing.

**gc** (``plan_gc`` / ``run_gc``) removes objects nothing references. Roots: the stage
records of every episode's latest render (its ``stage_results`` rows), the current takes of
every episode and their engine calls' generation records, everything the latest
``render.json`` names (masters, requests, graded takes), reference stages, every hash a
project file names, the inner caches (tts, audio layers, ...) written since the earliest
of those latest renders started, and - unless ``include_paid_unused`` - every paid take (even then a paid
take a kept episode uses is never removed). Mark-then-sweep with a journal: the plan is
written (fsynced) to ``vault/gc-journal.json`` before anything is deleted; stage records go
before their objects (a record never points at a missing object); a kill -9 mid-sweep loses
only unreferenced objects, and running gc again recomputes the mark and completes.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..store.hashing import DIGEST_IN_TEXT_RE
from ..store.ledger import Ledger
from ..store.vault import Vault
from ..store.yamlio import atomic_write_text

#: stage records that are references (drawn from the bible): always roots
REFERENCE_STAGES = ("qc-reference", "reference")
JOURNAL = "gc-journal.json"
AUDIO_STAGES = ("tts", "audio_layer", "dialogue", "mix", "conform", "conform_track",
                "aac_track")
PIECE_STAGES = ("transition_region", "assemble", "grade", "captions")


class ProvenanceStep(BaseModel):
    what: str = Field(description="request, engine_call, stage")
    label: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Asset(BaseModel):
    digest: str
    kind: str = Field(description="take, reference, audio, master, piece, other")
    size: int = 0
    media: str = Field("", description="video, image, audio or '' (from its first bytes)")
    episode: str | None = None
    shot: str | None = None
    characters: list[str] = Field(default_factory=list)
    engine: str | None = None
    model: str | None = None
    seed: int | None = None
    created: str | None = None
    cost: float = 0.0
    paid: bool = False
    prompt: str | None = None
    ingredients: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list, description="stage/output names")
    provenance: list[ProvenanceStep] = Field(default_factory=list)
    used_in: list[str] = Field(default_factory=list, description="episode NN: role")


def _media(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return ""
    if head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3":
        return "video"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:3] == b"ID3" \
            or head[:4] in (b"fLaC", b"OggS"):
        return "audio"
    return ""


def _records(vault: Vault) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for p in vault.iter_record_paths():
        try:
            out.append((p, json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return out


def _latest_renders(ledger: Ledger) -> dict[str, dict[str, Any]]:
    from ..production.gates import latest_render

    eps = [r["episode"] for r in ledger.query(
        "SELECT DISTINCT episode FROM runs WHERE kind='render' AND episode IS NOT NULL")]
    out = {}
    for ep in eps:
        data = latest_render(ledger, ep)
        if data:
            out[ep] = data
    return out


def _project_hashes(root: Path) -> set[str]:
    found: set[str] = set()
    for p in list(root.glob("*.yaml")) + list(root.glob("*/*.yaml")) + \
            list(root.glob("*/*/*.yaml")):
        if ".studio" in p.parts or "out" in p.relative_to(root).parts[:1]:
            continue
        try:
            found.update(DIGEST_IN_TEXT_RE.findall(p.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return found


# -- the index ------------------------------------------------------------------------


def asset_index(project: Any) -> list[Asset]:
    """Every object in the project's vault, described (see the module doc)."""
    from ..production.gates import current_take_records

    vault: Vault = project.vault()
    ledger = Ledger(project.root / ".studio" / "ledger.sqlite")
    try:
        calls = ledger.query("SELECT * FROM engine_calls ORDER BY id")
        renders = _latest_renders(ledger)
        takes = {ep: current_take_records(ledger, ep, r) for ep, r in renders.items()}
        stage_rows = ledger.query("SELECT stage, subject, key, outputs, created_at, run_id "
                                  "FROM stage_results ORDER BY id")
    finally:
        ledger.close()
    chars: dict[tuple[str, str], list[str]] = {}
    for ep in renders:
        try:
            sb = project.storyboard(ep)
        except StudioError:
            continue
        for s in sb.shots:
            chars[(ep, s.id)] = [c.character for c in s.characters]
    assets: dict[str, Asset] = {}
    for digest, path, size in vault.iter_objects():
        st = path.stat()
        assets[digest] = Asset(digest=digest, kind="other", size=size, media=_media(path),
                               created=datetime.fromtimestamp(st.st_mtime, UTC).isoformat())
    subject_of: dict[str, tuple[str, str | None]] = {}
    for r in stage_rows:
        for d in json.loads(r["outputs"] or "{}").values():
            if isinstance(d, str) and d in assets:
                subject_of.setdefault(d, (r["stage"], r["subject"]))
    for _p, rec in _records(vault):
        stage = rec.get("stage", "")
        for name, d in (rec.get("outputs") or {}).items():
            a = assets.get(d)
            if a is None:
                continue
            a.stages.append(f"{stage}/{name}")
            a.provenance.append(ProvenanceStep(what="stage", label=f"{stage} -> {name}",
                                               detail={"key": rec.get("key"),
                                                       "created": rec.get("created")}))
            if stage in REFERENCE_STAGES:
                a.kind = "reference"
            elif stage in ("mux",) and a.kind == "other":
                a.kind = "master"
            elif stage in AUDIO_STAGES and a.kind == "other":
                a.kind = "audio"
            elif stage in PIECE_STAGES and a.kind == "other":
                a.kind = "piece"
    for c in calls:
        a = assets.get(c["asset"] or "")
        if a is None:
            continue
        a.kind = "take"
        a.engine, a.model, a.shot = c["engine"], c["model"], c["shot_id"]
        a.cost += float(c["cost"] or 0)
        a.paid = a.paid or float(c["cost"] or 0) > 0
        a.created = c["created_at"]
        a.provenance.insert(0, ProvenanceStep(
            what="engine_call", label=f"{c['engine']} {c['model'] or ''} attempt "
                                      f"{c['attempt']}: {c['status']}",
            detail={"request_hash": c["request_hash"], "remote_id": c["remote_id"],
                    "cost": c["cost"], "currency": c["currency"], "run": c["run_id"]}))
    for ep, render in renders.items():
        for s in render.get("shots", []):
            sid = s.get("shot_id")
            for role in ("asset", "graded", "signed"):
                a = assets.get(s.get(role) or "")
                if a is not None:
                    a.episode, a.shot = a.episode or ep, a.shot or sid
                    a.characters = chars.get((ep, sid), a.characters)
                    a.seed = s.get("seed") if role == "asset" else a.seed
                    a.engine = a.engine or s.get("engine")
            req = assets.get(s.get("request") or "")
            take = assets.get(s.get("asset") or "")
            if req is not None:
                req.kind, req.episode, req.shot = "request", ep, sid
                if take is not None:
                    _request_into(take, vault.path(req.digest), req.digest)
        text = json.dumps(render)
        for d in set(DIGEST_IN_TEXT_RE.findall(text)):
            if d in assets:
                assets[d].used_in.append(f"episode {ep}: latest render")
    for ep, cur in takes.items():
        for sid, t in cur.items():
            a = assets.get(t.get("asset") or "")
            if a is not None:
                a.episode, a.shot = a.episode or ep, a.shot or sid
                a.characters = a.characters or chars.get((ep, sid), [])
                a.used_in.append(f"episode {ep}: current take of {sid}")
    latest_runs = {r["run_id"]: ep for ep, r in renders.items()}
    for r in stage_rows:
        ep = latest_runs.get(r["run_id"])
        if ep is None:
            continue
        for name, d in json.loads(r["outputs"] or "{}").items():
            if isinstance(d, str) and d in assets:
                where = f" ({r['subject']})" if r["subject"] else ""
                assets[d].used_in.append(f"episode {ep}: {r['stage']}/{name}{where}")
    for d, (stage, subject) in subject_of.items():
        a = assets[d]
        if a.shot is None and subject and stage not in ("mix", "conform", "captions"):
            a.shot = subject
    for a in assets.values():
        a.used_in = sorted(set(a.used_in))
        if a.kind == "audio" and a.media == "video":
            a.media = "audio"  # an AAC track in an MP4 box
    return sorted(assets.values(), key=lambda a: (a.kind, a.created or "", a.digest))


def _request_into(take: Asset, path: Path, digest: str) -> None:
    try:
        req = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    prompt = req.get("prompt")
    if isinstance(prompt, dict):
        prompt = prompt.get("positive") or prompt.get("text") or json.dumps(prompt)[:400]
    take.prompt = str(prompt) if prompt else take.prompt
    ing = req.get("references") or req.get("ingredients") or req.get("conditioning") or []
    if isinstance(ing, dict):
        ing = list(ing.values())
    take.ingredients = [str(i) if not isinstance(i, dict) else
                        str(i.get("path") or i.get("asset") or i) for i in ing]
    take.provenance.insert(0, ProvenanceStep(what="request", label=f"request {digest[:12]}",
                                             detail={k: req[k] for k in list(req)[:12]}))


def search(assets: list[Asset], *, shot: str | None = None, character: str | None = None,
           engine: str | None = None, kind: str | None = None, since: str | None = None,
           until: str | None = None) -> list[Asset]:
    """Filter the index: substring of the shot id, a character, engine, kind, ISO dates."""
    out = []
    for a in assets:
        if shot and shot not in (a.shot or ""):
            continue
        if character and character not in a.characters:
            continue
        if engine and engine != (a.engine or ""):
            continue
        if kind and kind != a.kind:
            continue
        if since and (a.created or "") < since:
            continue
        if until and (a.created or "")[:len(until)] > until:
            continue
        out.append(a)
    return out


# -- gc -------------------------------------------------------------------------------


class GcPlan(BaseModel):
    objects: dict[str, int] = Field(default_factory=dict, description="digest -> bytes")
    records: list[str] = Field(default_factory=list, description="stage record paths")
    kept_paid: list[str] = Field(default_factory=list, description="paid takes kept unused")
    live: int = 0
    resumed: bool = False

    @property
    def bytes(self) -> int:
        return sum(self.objects.values())


def mark_live(project: Any, vault: Vault, *, include_paid_unused: bool
               ) -> tuple[set[str], set[str], list[str]]:
    """(live objects, live record paths, paid takes kept although unused)."""
    from ..production.gates import current_take_records

    ledger = Ledger(project.root / ".studio" / "ledger.sqlite")
    try:
        ledger.mark_dead_runs()
        running = ledger.query("SELECT id, kind FROM runs WHERE status='running'")
        if running:
            raise StudioError(
                f"a {running[0]['kind']} run (id {running[0]['id']}) is in progress",
                file=project.root / ".studio" / "ledger.sqlite",
                hint="wait for it to finish (gc must not remove what it is writing), then "
                     "run 'studio vault gc' again")
        renders = _latest_renders(ledger)
        live_stage_keys = set()
        starts = [row["started_at"] for r in renders.values() for row in ledger.query(
            "SELECT started_at FROM runs WHERE id=?", (r["run_id"],))]
        since = min(starts) if starts else None
        for r in renders.values():
            for row in ledger.query("SELECT stage, key FROM stage_results WHERE run_id=?",
                                    (r["run_id"],)):
                live_stage_keys.add((row["stage"], row["key"]))
        take_assets: set[str] = set()
        for ep, r in renders.items():
            for t in current_take_records(ledger, ep, r).values():
                take_assets.add(t["asset"])
                if t.get("request"):
                    take_assets.add(t["request"])
        calls = ledger.query("SELECT request_hash, asset, cost FROM engine_calls WHERE "
                             "asset IS NOT NULL")
    finally:
        ledger.close()
    live: set[str] = set(take_assets)
    for r in renders.values():
        live.update(DIGEST_IN_TEXT_RE.findall(json.dumps(r)))
    live.update(_project_hashes(project.root))
    live_requests = {c["request_hash"] for c in calls if c["asset"] in take_assets}
    kept_paid = []
    for c in calls:
        if float(c["cost"] or 0) > 0 and c["asset"] not in take_assets:
            if not include_paid_unused:
                live.add(c["asset"])
                live_requests.add(c["request_hash"])
                kept_paid.append(c["asset"])
    live_records: set[str] = set()
    for path, rec in _records(vault):
        stage, key = rec.get("stage", ""), rec.get("key", "")
        outs = set((rec.get("outputs") or {}).values())
        inner = since is not None and (rec.get("created") or "") >= since
        if (stage, key) in live_stage_keys or stage in REFERENCE_STAGES or inner or \
                (stage == "generation" and (key in live_requests or outs & take_assets)):
            live_records.add(str(path))
            live.update(outs)
            live.update(d for d in DIGEST_IN_TEXT_RE.findall(json.dumps(rec.get("meta", {})))
                        if d != key)
    return live, live_records, sorted(set(kept_paid))


def plan_gc(project: Any, *, include_paid_unused: bool = False) -> GcPlan:
    """What ``run_gc`` would remove (nothing is touched)."""
    vault: Vault = project.vault()
    live, live_records, kept_paid = mark_live(project, vault,
                                          include_paid_unused=include_paid_unused)
    plan = GcPlan(kept_paid=kept_paid, live=len(live),
                  resumed=(vault.root / JOURNAL).exists())
    for digest, _path, size in vault.iter_objects():
        if digest not in live:
            plan.objects[digest] = size
    dead = set(plan.objects)
    for path, rec in _records(vault):
        if str(path) in live_records:
            continue
        if set((rec.get("outputs") or {}).values()) & dead or \
                not all(vault.has(d) for d in (rec.get("outputs") or {}).values()):
            plan.records.append(str(path))
    return plan


def run_gc(project: Any, *, include_paid_unused: bool = False, progress=None) -> GcPlan:
    """Mark, write the journal durably, then sweep (records first, then objects). A crash
    leaves the journal; the next run recomputes the mark and completes."""
    vault: Vault = project.vault()
    plan = plan_gc(project, include_paid_unused=include_paid_unused)
    journal = vault.root / JOURNAL
    atomic_write_text(journal, json.dumps({"started": datetime.now(UTC).isoformat(),
                                           "pid": os.getpid(), **plan.model_dump()}))
    for rec in plan.records:
        vault.remove_record(Path(rec))
        if progress:
            progress(f"record {rec}")
    for digest in sorted(plan.objects):
        vault.remove_object(digest)
        if progress:
            progress(f"object {digest} {plan.objects[digest]}")
    journal.unlink(missing_ok=True)
    return plan


# -- previews for the surface -----------------------------------------------------------


def thumbnail(project: Any, asset: Asset, width: int = 160) -> bytes | None:
    """A PNG of the asset: a video's middle frame, an image scaled; None for anything else.
    Cached in ``.studio/thumbs/asset-<digest>-<width>.png`` (content-addressed: never stale)."""
    if asset.media not in ("video", "image"):
        return None
    cache = project.studio_dir / "thumbs" / f"asset-{asset.digest}-{width}.png"
    if cache.is_file():
        return cache.read_bytes()
    path = project.vault().path(asset.digest)
    try:
        if asset.media == "video":
            from .episode_bay import _middle_frame_png

            png = _middle_frame_png(path, width)
        else:
            import io

            from PIL import Image

            with Image.open(path) as img:
                img = img.convert("RGB")
                img = img.resize((width, max(2, round(img.height * width / img.width))))
                buf = io.BytesIO()
                img.save(buf, format="PNG")
                png = buf.getvalue()
    except (StudioError, OSError, ValueError):
        return None
    from ..store.yamlio import atomic_write_bytes

    atomic_write_bytes(cache, png)
    return png
