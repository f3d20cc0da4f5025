"""THE idempotent entry point for generating a shot on an engine.

``generate_shot`` is what the pipeline and QC regeneration call. For a request it:

1. hashes the request (``EngineRequest.request_hash(engine, model)``);
2. returns the stored result if that hash was already paid for (vault stage record
   ``generation/<hash>``, or the ledger's succeeded call) - no engine call at all;
3. refuses a PAID engine unless Gate A was approved for the episode's estimate as it is now
   (``BudgetError``; editing ``routing.yaml`` after approval needs a new approval);
4. resumes a call that a previous process left submitted (the ledger holds its remote job
   id) by polling that job instead of submitting again;
5. otherwise records ``begin_call`` before submitting, stores the remote id the moment the
   engine returns it, and ``update_call`` with the cost and the asset on completion.

Across processes (two renders of one project, a notebook beside the CLI) the ledger holds a
lease per request hash (``Ledger.acquire_lease``: holder pid, host, expiry, renewed while
the call runs): a second process waits for a live holder and then re-uses its result, or
refuses after ``STUDIO_LEASE_WAIT_S`` (default 600 s) with a clear message; a dead holder's
lease (its pid gone, or expired) is taken over and its remote job polled, not resubmitted.

A call the engine accepted whose result cannot be collected now (an ``AdapterError`` that is
``transient`` and carries a ``remote_id``, e.g. ``ResultUnavailable``) stays pending with its
remote id and billed cost, and is collected on the next run (``collect_later`` on the error
tells the router not to pay another engine for it); after ``MAX_COLLECT_TRIES`` runs it is
recorded failed with its cost.

The same request is therefore never paid twice, across restarts too. The one window left
is a process killed between the engine accepting a submission and our storing its id (a
single HTTP round trip); such a call is marked ``orphaned`` and reported, and the request is
submitted again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from pathlib import Path
from typing import Any

from ..engines.base import Engine, EngineRequest, EngineResult, ProgressFn, ResumableEngine
from ..engines.factory import get_engine
from ..errors import BudgetError, EngineError
from ..settings import settings
from ..store.ledger import Ledger
from ..store.vault import Vault
from .budget import estimate_episode

STAGE = "generation"
MAX_COLLECT_TRIES = 3
LEASE_POLL_S = 0.1
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def is_paid(engine: Engine) -> bool:
    return bool(engine.capabilities.paid)


def ledger_project(ledger: Ledger) -> Path | None:
    """The series folder whose ``.studio/ledger.sqlite`` is ``ledger`` (None for a ledger
    that is not a project's, e.g. a scratch one)."""
    root = Path(ledger.path).resolve().parent.parent
    return root if (root / "series.yaml").is_file() else None


def current_estimate_hash(project: Any, episode: str, ledger: Ledger | None = None) -> str:
    """The Gate A estimate hash of ``episode`` as ``routing.yaml`` and the storyboard route it
    now (what ``studio estimate`` prints and ``studio approve`` records)."""
    from ..project.series_folder import Project

    proj = project if isinstance(project, Project) else Project.load(project)
    return estimate_episode(proj, episode, ledger=ledger).estimate_hash


def require_gate_a(ledger: Ledger, episode: str | None, engine_name: str,
                   estimate_hash: str | None = None, *,
                   project: Any = None) -> None:
    """BudgetError unless Gate A is approved for ``episode`` and for the estimate as it is
    now: an approval records the estimate's hash; if ``routing.yaml`` (or the storyboard's
    routes) changed since, the hash differs and a new approval is needed.

    ``estimate_hash``: the current estimate's hash, if the caller has it; otherwise it is
    computed from ``project`` (a Project or its folder; default: the project that holds
    ``ledger``), only when the approval carries a hash to compare with."""
    if not episode:
        raise BudgetError(f"{engine_name} is a paid engine and the request names no episode",
                          hint="pass episode= so Gate A can be checked")
    d = ledger.latest_decision(episode, "A", "budget")
    if not d or d["decision"] != "approved":
        raise BudgetError(
            f"episode {episode}: Gate A (budget) is not approved; {engine_name} is paid",
            field="gate A",
            hint=f"review 'studio estimate PROJECT {episode}' then "
                 f"'studio approve PROJECT {episode} --gate A --who NAME'")
    approved = d.get("subject_hash")
    if not approved:
        return  # an approval recorded without an estimate (older ledgers): nothing to match
    root = None
    if estimate_hash is None:
        project = project if project is not None else ledger_project(ledger)
        if project is None:
            return  # no project to estimate from
        root = project.root if hasattr(project, "storyboard") else Path(project)
        estimate_hash = current_estimate_hash(project, episode, ledger)
    if approved != estimate_hash:
        routing = Path(root) / "routing.yaml" if root is not None else Path("routing.yaml")
        raise BudgetError(
            f"episode {episode}: the routes or costs changed since Gate A was approved by "
            f"{d['who']} (approved estimate {approved}, now {estimate_hash}): routing.yaml "
            f"or the storyboard's shot engines were edited; {engine_name} is paid",
            file=routing, field="gate A",
            hint=f"re-run 'studio estimate PROJECT {episode}' and approve the new estimate "
                 f"with 'studio approve PROJECT {episode} --gate A --who NAME'")


def cached_result(request_hash: str, vault: Vault, ledger: Ledger) -> EngineResult | None:
    """The result already produced for this hash, if its asset is still in the vault."""
    rec = vault.lookup(STAGE, request_hash)
    if rec is not None:
        result = EngineResult.model_validate(rec.meta["result"])
        pending = ledger.pending_call(request_hash)
        if pending and not ledger.paid_asset(request_hash):
            # the process died after storing the asset but before the ledger update
            ledger.update_call(pending["id"], status="succeeded", cost=result.cost,
                               currency=result.currency, asset=result.asset)
        return result
    rows = ledger.query("SELECT * FROM engine_calls WHERE request_hash=? AND status="
                        "'succeeded' AND asset IS NOT NULL ORDER BY id DESC LIMIT 1",
                        (request_hash,))
    if rows and vault.verified(rows[0]["asset"]):
        # paid and stored, but the stage record is gone (e.g. stages/ was cleaned): rebuild
        from ..engines.adapters.http import probe_video

        row = rows[0]
        try:
            info = probe_video(vault.get(row["asset"]), row["engine"], row["remote_id"])
        except EngineError:
            return None
        result = EngineResult(asset=row["asset"], engine=row["engine"], model=row["model"] or "",
                              duration_s=info["duration_s"], width=info["width"],
                              height=info["height"], fps=info["fps"], cost=row["cost"],
                              currency=row["currency"], request_hash=request_hash,
                              metadata={"remote_id": row["remote_id"], "rebuilt": True})
        vault.remember(STAGE, request_hash, {"video": result.asset},
                       meta={"result": result.model_dump(mode="json"), "shot": row["shot_id"]})
        return result
    return None


def _status_for(err: EngineError) -> str:
    from ..engines.adapters.errors import EngineTimeout, ModerationRefused

    if isinstance(err, ModerationRefused):
        return "refused"
    if isinstance(err, EngineTimeout):
        return "timeout"
    return "failed"


async def generate_shot(request: EngineRequest, engine_name: str, *, vault: Vault,
                        ledger: Ledger, episode: str | None = None, run_id: int | None = None,
                        progress: ProgressFn | None = None, engine: Engine | None = None,
                        attempt: int = 1, estimate_hash: str | None = None,
                        project: Any = None) -> EngineResult:
    """Generate (or re-use) the clip for ``request`` on ``engine_name``; see module doc.

    For a paid engine, Gate A must be approved for the estimate as it is now
    (``require_gate_a``): ``estimate_hash`` if given, else computed from ``project``
    (default: the project whose ledger ``ledger`` is)."""
    eng = engine or get_engine(engine_name)
    eng.check(request)
    model = eng.model or ""
    h = request.request_hash(engine_name, model)
    episode = episode or request.spec.episode
    shot_id = request.spec.shot.id
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault(h, asyncio.Lock())
    async with lock:  # two tasks of one process never submit the same request
        hit = cached_result(h, vault, ledger)
        if hit is not None:
            return hit
        token, hit = await _take_lease(h, vault, ledger, engine_name, shot_id)
        if hit is not None:  # another process made it while we waited
            return hit
        assert token is not None
        renew = asyncio.create_task(_renew_lease(ledger, h, token))
        try:
            return await _generate_leased(
                request, engine_name, eng, h, model, vault=vault, ledger=ledger,
                episode=episode, run_id=run_id, progress=progress, attempt=attempt,
                estimate_hash=estimate_hash, project=project, shot_id=shot_id)
        finally:
            renew.cancel()
            ledger.release_lease(h, token)


async def _take_lease(h: str, vault: Vault, ledger: Ledger, engine_name: str, shot_id: str
                      ) -> tuple[str | None, EngineResult | None]:
    """``(token, None)``: the lease on request ``h``; ``(None, result)`` when a live holder
    made the result while we waited. EngineError when it keeps holding it beyond
    ``STUDIO_LEASE_WAIT_S``."""
    wait_s = settings().lease_wait_s
    deadline = time.monotonic() + wait_s
    holder = None
    while True:
        token, other = ledger.acquire_lease(h)
        if token is not None:
            return token, None
        holder = other
        if ledger.paid_asset(h):
            hit = cached_result(h, vault, ledger)
            if hit is not None:
                return None, hit
        if time.monotonic() > deadline:
            assert holder is not None
            raise EngineError(
                f"shot {shot_id}: this request to {engine_name} is being generated by "
                f"another process (pid {holder['pid']} on {holder['host']}, since "
                f"{holder['acquired_at']}); not submitting it a second time",
                field="generation",
                hint="wait for that render to finish (its result is then re-used), or stop "
                     "it; a lease of a process that died is taken over automatically")
        await asyncio.sleep(LEASE_POLL_S)


async def _renew_lease(ledger: Ledger, h: str, token: str) -> None:
    from ..store.ledger import LEASE_TTL_S

    while True:
        await asyncio.sleep(LEASE_TTL_S / 3)
        await asyncio.to_thread(ledger.renew_lease, h, token)


async def _generate_leased(request: EngineRequest, engine_name: str, eng: Engine, h: str,
                           model: str, *, vault: Vault, ledger: Ledger, episode: str | None,
                           run_id: int | None, progress: ProgressFn | None, attempt: int,
                           estimate_hash: str | None, project: Any,
                           shot_id: str) -> EngineResult:
    """``generate_shot``'s work once this process holds the lease on ``h``."""
    hit = cached_result(h, vault, ledger)  # made by a holder that finished meanwhile
    if hit is not None:
        return hit
    paid = is_paid(eng)
    remote_id: str | None = None
    pending = ledger.pending_call(h)
    refetch = False
    if pending is None and isinstance(eng, ResumableEngine):
        # a paid take whose object is gone or was quarantined as corrupt: fetch it again
        # from the engine by its remote id (no new job, no new bill)
        lost = ledger.query("SELECT * FROM engine_calls WHERE request_hash=? AND status="
                            "'succeeded' AND asset IS NOT NULL AND remote_id IS NOT NULL "
                            "ORDER BY id DESC LIMIT 1", (h,))
        if lost and not vault.verified(lost[0]["asset"]):
            pending, refetch = lost[0], True
        else:
            # billed before but its delivery was rejected (truncated, corrupt) or never
            # collected: fetch that job's output again (free) rather than pay again
            billed = ledger.query(
                "SELECT * FROM engine_calls WHERE request_hash=? AND status='failed' AND "
                "cost > 0 AND remote_id IS NOT NULL ORDER BY id DESC LIMIT 1", (h,))
            if billed:
                pending, refetch = billed[0], True
    was = str(pending["status"]) if refetch and pending else None
    resumable = bool(pending and pending.get("remote_id") and isinstance(eng, ResumableEngine))
    if paid and not resumable:
        # a job already submitted (and paid) is collected whatever changed since: polling
        # costs nothing, and a new approval must not be needed to get what was bought
        require_gate_a(ledger, episode, engine_name, estimate_hash, project=project)
    if resumable:
        assert pending is not None
        call_id = int(pending["id"])
        remote_id = str(pending["remote_id"])
        ledger.update_call(call_id, status="running")
    else:
        if pending:
            ledger.update_call(int(pending["id"]), status="orphaned",
                               error="the process stopped before the engine returned a "
                                     "job id; submitted again")
        call_id = ledger.begin_call(engine=engine_name, request_hash=h, run_id=run_id,
                                    model=model, shot_id=shot_id, attempt=attempt)

    def submitted(rid: str) -> None:
        ledger.update_call(call_id, status="submitted", remote_id=rid)

    try:
        if isinstance(eng, ResumableEngine):
            result = await eng.run_job(request, vault, progress, remote_id=remote_id,
                                       on_submitted=submitted)
        else:
            result = await eng.generate(request, vault, progress)
    except EngineError as err:
        if refetch:  # billed once already: never pay for this request again
            what = ("its paid take is corrupt in the vault" if was == "succeeded" else
                    "it was billed and its delivery was rejected")
            ledger.update_call(call_id, status=str(was),
                               error=f"{what}; fetching job {remote_id} again failed: "
                                     f"{err}"[:500])
            raise EngineError(
                f"shot {shot_id}: {engine_name} job {remote_id}: {what}, and fetching it "
                f"again failed: {str(err).splitlines()[0]}; not paying for it twice",
                field="generation",
                hint="the next engine of the route is tried; to pay for a new take, "
                     "regenerate the shot with another seed") from err
        cost = float(err.cost or 0.0)
        rid = err.remote_id
        extra = {"remote_id": rid} if rid else {}
        if err.transient and rid:
            # accepted by the engine: keep it pending (cost as billed), collect next run
            tries = int((ledger.query("SELECT collect_tries FROM engine_calls WHERE id=?",
                                      (call_id,)) or [{"collect_tries": 0}])[0]
                        ["collect_tries"] or 0) + 1
            if tries < MAX_COLLECT_TRIES:
                ledger.update_call(call_id, status="submitted", error=str(err)[:500],
                                   cost=cost, collect_tries=tries, **extra)
                err.collect_later = True
                raise
            ledger.update_call(call_id, status="failed", cost=cost, collect_tries=tries,
                               error=f"not collected after {tries} runs: {err}"[:500],
                               **extra)
            raise
        at_risk = float(err.at_risk or 0.0)
        status = "unconfirmed" if at_risk and not rid else _status_for(err)
        ledger.update_call(call_id, status=status, error=str(err)[:500], cost=cost,
                           **({"at_risk": at_risk} if at_risk else {}), **extra)
        raise
    except Exception as exc:
        ledger.update_call(call_id, status="failed", error=repr(exc)[:500])
        raise
    result = result.model_copy(update={"request_hash": h})
    vault.remember(STAGE, h, {"video": result.asset},
                   meta={"result": result.model_dump(mode="json"), "shot": shot_id,
                         "episode": episode})
    ledger.update_call(call_id, status="succeeded", cost=result.cost,
                       currency=result.currency, asset=result.asset,
                       **({"remote_id": str(result.metadata["remote_id"])}
                          if result.metadata.get("remote_id") else {}))
    return result
