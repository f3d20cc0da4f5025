"""Each engine adapter against a real HTTP server on 127.0.0.1 speaking its protocol."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakes.engine_servers import ENGINE_SERVICE, KEY_ENV, FakeEngineServer

from studio_kit.engines.adapters import errors as E
from studio_kit.engines.adapters.http import looks_like_video, parse_retry_after
from studio_kit.engines.factory import get_engine
from studio_kit.production.routing import build_request

ENGINES = ["runway", "luma", "kling", "pika", "replicate", "comfyui"]
CAP = 200_000


@pytest.fixture
def vault(tmp_path):
    from studio_kit.store.vault import Vault

    return Vault(tmp_path / "vault")


def make(engine_name: str, server: FakeEngineServer, **kw):
    cfg = dict(base_url=server.url, poll_interval=0.01, max_poll_interval=0.05, timeout_s=3.0,
               max_download_bytes=CAP, retry_backoff=0.01)
    cfg.update(kw)
    return get_engine(engine_name, **cfg)


def request_for(project, shot="s02-cliff-mara", **kw):
    return build_request(project, "01", shot, **kw)


@pytest.fixture(scope="module")
def project():
    """The sample series, loaded once (read only)."""
    from conftest import SAMPLE

    from studio_kit.project.series_folder import Project

    return Project.load(SAMPLE)


@pytest.fixture(params=ENGINES)
def rig(request, project, vault, keys):
    name = request.param
    server = FakeEngineServer(ENGINE_SERVICE[name], job_latency_s=0.02).start()
    yield name, server, make(name, server), request_for(project), vault
    server.stop()


def run(engine, req, vault, **kw):
    return asyncio.run(engine.run_job(req, vault, **kw))


def test_happy_path(rig):
    name, server, engine, req, vault = rig
    seen: list[float] = []
    ids: list[str] = []
    res = run(engine, req, vault, progress=seen.append, on_submitted=ids.append)
    assert vault.has(res.asset)
    assert (res.width, res.height) == (160, 90)
    # the engine delivers (and bills) the next length it offers; the whole clip decoded
    assert res.duration_s == pytest.approx(engine.expected_duration(req), abs=0.05)
    assert res.metadata["frames"] == pytest.approx(res.duration_s * res.fps, abs=1)
    assert res.engine == name and ids and res.metadata["remote_id"] == ids[0]
    assert seen[-1] == 1.0
    price = engine.capabilities.price_per_second
    assert res.cost == pytest.approx(price * engine.billed_duration(req))
    assert len(server.submissions) == 1 and len(server.billed) == 1
    if engine.capabilities.paid:
        assert res.cost > 0


SUBMIT_FAULTS = [("http401", E.AuthError), ("http402", E.InsufficientCredits),
                 ("moderation", E.ModerationRefused), ("http500", E.ServerError),
                 ("malformed", E.MalformedResponse),
                 ("missing_field", E.MalformedResponse)]


def test_submit_faults_map_to_typed_errors(rig):
    name, server, engine, req, vault = rig
    for fault, exc in SUBMIT_FAULTS:
        before = len([c for c in server.calls if c[0] == "POST"])
        server.script("submit", fault)
        with pytest.raises(exc) as info:
            run(engine, req, vault)
        assert info.value.engine == name, fault
        # a submission is never retried after an answer that may mean it was accepted
        posts = [c for c in server.calls if c[0] == "POST"]
        assert len(posts) == before + 1, fault
    assert not server.billed


def test_rate_limited_submit_is_retried(rig):
    name, server, engine, req, vault = rig
    server.script("submit", "http429", "http429")
    res = run(engine, req, vault)
    assert vault.has(res.asset)
    assert [c[2] for c in server.calls if c[0] == "POST"][:3] == [429, 429, 200 if name in (
        "runway", "fal", "comfyui", "kling", "pika") else 201]
    assert len(server.submissions) == 1


@pytest.mark.parametrize("faults", [("http503", "http500"), ("malformed", "http429"),
                                    ("latency",)])
def test_transient_poll_faults_are_retried(rig, faults):
    name, server, engine, req, vault = rig
    server.script("status", *faults)
    res = run(engine, req, vault)
    assert vault.has(res.asset)
    assert len(server.submissions) == 1 and len(server.billed) == 1


def test_persistent_malformed_status_gives_up(rig):
    name, server, engine, req, vault = rig
    server.script("status", *["malformed"] * 10)
    with pytest.raises(E.ResultUnavailable) as info:
        run(engine, req, vault)
    # the job was accepted: it is kept (remote id) to be collected later, not failed
    assert info.value.transient and info.value.remote_id and not info.value.completed
    assert isinstance(info.value.__cause__, E.MalformedResponse)
    assert len(server.submissions) == 1


def test_job_failure_and_moderation(rig):
    name, server, engine, req, vault = rig
    server.script("submit", "job_failed")
    with pytest.raises(E.JobFailed):
        run(engine, req, vault)
    server.script("submit", "job_moderated")
    expected = E.JobFailed if name == "comfyui" else E.ModerationRefused
    with pytest.raises(expected):
        run(engine, req, vault)
    assert not server.billed


def test_stalled_job_times_out_and_is_cancelled(rig):
    name, server, engine, req, vault = rig
    engine.timeout_s = 0.15
    server.script("submit", "stall")
    with pytest.raises(E.EngineTimeout) as info:
        run(engine, req, vault)
    assert info.value.remote_id
    assert any(j.cancelled for j in server.jobs.values())


def test_download_rejected(rig):
    name, server, engine, req, vault = rig
    for fault in ("oversize", "oversize_chunked", "not_video", "bad_type", "corrupt",
                  "truncated", "flipped", "short"):
        server.script("submit", fault)
        with pytest.raises(E.DownloadRejected) as info:
            run(engine, req, vault)
        # billed by the engine even though rejected: the error carries the cost
        assert info.value.cost == pytest.approx(engine.estimate_cost(req)), fault
        objects = list(vault.objects.glob("*/*")) if vault.objects.exists() else []
        assert objects == [], fault  # nothing half-written kept
        leftovers = list((vault.root / "tmp").glob("*")) if (vault.root / "tmp").exists() \
            else []
        assert leftovers == [], fault


def test_resume_polls_existing_job_without_submitting(rig):
    name, server, engine, req, vault = rig
    ids: list[str] = []

    async def submit_only():
        async with engine.client() as client:
            ids.append(await engine.submit(client, req, vault))

    asyncio.run(submit_only())
    res = run(engine, req, vault, remote_id=ids[0])
    assert vault.has(res.asset)
    assert len(server.submissions) == 1


@pytest.mark.parametrize("name", [n for n in ENGINES if n != "comfyui"])
def test_missing_and_wrong_key(name, project, vault, monkeypatch):
    server = FakeEngineServer(ENGINE_SERVICE[name]).start()
    try:
        monkeypatch.delenv(KEY_ENV[ENGINE_SERVICE[name]], raising=False)
        engine = make(name, server)
        assert engine.key_problem() == KEY_ENV[ENGINE_SERVICE[name]]
        with pytest.raises(E.MissingKey):
            run(engine, request_for(project), vault)
        assert server.calls == []
        monkeypatch.setenv(KEY_ENV[ENGINE_SERVICE[name]], "wrong")
        with pytest.raises(E.AuthError):
            run(make(name, server), request_for(project), vault)
    finally:
        server.stop()


def test_retry_after_is_honoured(project, vault, keys):
    with FakeEngineServer("replicate", retry_after="1") as server:
        server.script("status", "http429")
        engine = make("replicate", server)
        t0 = time.monotonic()
        run(engine, request_for(project), vault)
        assert time.monotonic() - t0 >= 1.0


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_video_sniffing():
    from fakes.engine_servers import tiny_mp4

    assert looks_like_video(tiny_mp4()[:16])
    assert looks_like_video(b"\x1aE\xdf\xa3" + b"\0" * 12)
    assert not looks_like_video(b"<html><body>")


def test_comfyui_graph_loads_character_lora(project, vault):
    from studio_kit.models import LoraRef

    mara = project.characters["mara"]
    project.characters["mara"] = mara.model_copy(update={"lora": LoraRef(
        name="mara", uri="loras/mara_v1.safetensors", trigger="MARAQ", strength=0.9)})
    try:
        with FakeEngineServer("comfyui") as server:
            engine = make("comfyui", server)
            res = run(engine, request_for(project), vault)
            assert vault.has(res.asset)
            graph = next(iter(server.jobs.values())).body
    finally:
        project.characters["mara"] = mara
    loras = [n for n in graph.values() if n["class_type"] == "LoraLoader"]
    assert len(loras) == 1
    assert loras[0]["inputs"]["lora_name"] == "mara_v1.safetensors"
    assert loras[0]["inputs"]["strength_model"] == 0.9
    lora_id = next(k for k, n in graph.items() if n["class_type"] == "LoraLoader")
    sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["model"] == [lora_id, 0]
    pos = graph[sampler["inputs"]["positive"][0]]["inputs"]
    assert pos["text"].startswith("MARAQ") and pos["clip"] == [lora_id, 1]


def test_comfyui_invalid_graph_is_invalid_request(project, vault):
    from studio_kit.engines.adapters.comfyui import BASE_GRAPH

    graph = {k: v for k, v in BASE_GRAPH.items() if k != "12"}  # no output node
    with FakeEngineServer("comfyui") as server:
        engine = make("comfyui", server)
        req = request_for(project, options={"workflow": graph})
        with pytest.raises(E.InvalidRequest, match="no outputs"):
            run(engine, req, vault)


def test_download_never_sends_key_to_another_host(project, vault, keys):
    """Output URLs on another host (a CDN) are fetched without the Authorization header."""
    with FakeEngineServer("runway") as api, FakeEngineServer("runway") as cdn:
        engine = make("runway", api)
        # point the output at the second server: its /files/ path needs no auth
        orig = engine.output_url

        async def elsewhere(client, rid, state):
            url = await orig(client, rid, state)
            cdn.jobs.update(api.jobs)
            return url.replace(api.url, cdn.url)

        engine.output_url = elsewhere
        run(engine, request_for(project), vault)
        assert cdn.download_auth == [None]
        assert api.download_auth == []


def test_capability_check_happens_before_any_call(project, vault, keys):
    from studio_kit.engines.base import RenderFormat
    from studio_kit.errors import EngineError

    with FakeEngineServer("runway") as server:
        engine = make("runway", server)
        long = request_for(project, duration_s=12.0)
        with pytest.raises(EngineError, match="maximum 10s"):
            run(engine, long, vault)
        assert server.calls == []
        # the cloud engine renders at its own rate; a 25 fps series is conformed later
        req = request_for(project).model_copy(
            update={"format": RenderFormat(width=640, height=360, fps=25.0)})
        res = run(engine, req, vault)
        assert res.fps == 24.0
        assert server.jobs[next(iter(server.jobs))].body["ratio"] == "1280:720"


@pytest.mark.parametrize("fault,match", [("truncated", "damaged|truncated|frames"),
                                         ("flipped", "damaged"),
                                         ("short", "was asked")])
def test_bad_delivery_is_refused_before_it_reaches_the_vault(rig, fault, match):
    """A clip that decodes only in part (cut short, bytes flipped) or is shorter than asked
    is a failed, billed attempt: DownloadRejected with the cost and the remote id."""
    name, server, engine, req, vault = rig
    server.script("submit", fault)
    with pytest.raises(E.DownloadRejected, match=match) as info:
        run(engine, req, vault)
    assert info.value.cost == pytest.approx(engine.estimate_cost(req))
    assert info.value.remote_id and len(server.billed) == 1
    assert not info.value.transient  # asking the same job again gets the same file


def test_decode_check_counts_every_frame(tmp_path):
    from fakes.engine_servers import flipped, tiny_mp4, truncated

    from studio_kit.engines.adapters.http import decode_check

    good = tmp_path / "good.mp4"
    good.write_bytes(tiny_mp4(2.0))
    info = decode_check(good, "t", expected_s=2.0)
    assert info["frames"] == 48 and info["duration_s"] == pytest.approx(2.0)
    decode_check(good, "t", expected_s=2.0 + 1.5 / 24)  # within two frames
    with pytest.raises(E.DownloadRejected, match="was asked"):
        decode_check(good, "t", expected_s=2.5)
    with pytest.raises(E.DownloadRejected, match="longer"):
        decode_check(good, "t", expected_s=1.0)
    for damage in (truncated, flipped):
        bad = tmp_path / f"{damage.__name__}.mp4"
        bad.write_bytes(damage(tiny_mp4(2.0)))
        # the header alone (what the old probe read) still claims a whole clip
        from studio_kit.engines.adapters.http import probe_video

        assert probe_video(bad, "t", None)["duration_s"] == pytest.approx(2.0)
        with pytest.raises(E.DownloadRejected):
            decode_check(bad, "t", expected_s=2.0)


def test_completed_job_whose_download_keeps_failing_is_collected_later(rig):
    """The job finished (billed) but its file cannot be fetched now: ResultUnavailable with
    the remote id and the cost; run_job(remote_id=...) later collects it, no resubmission."""
    name, server, engine, req, vault = rig
    server.script("download", *["http500"] * (engine.max_retries + 1))
    with pytest.raises(E.ResultUnavailable) as info:
        run(engine, req, vault)
    err = info.value
    assert err.transient and err.completed and err.remote_id
    assert err.cost == pytest.approx(engine.estimate_cost(req))
    assert len(server.billed) == 1
    res = run(engine, req, vault, remote_id=err.remote_id)
    assert vault.has(res.asset)
    assert len(server.submissions) == 1 and len(server.billed) == 1


def test_fal_result_call_failing_is_collected_later(project, vault, keys):
    with FakeEngineServer("fal", job_latency_s=0.02) as server:
        engine = make("kling", server)
        req = request_for(project)
        server.script("result", *["http500"] * (engine.max_retries + 1))
        with pytest.raises(E.ResultUnavailable) as info:
            run(engine, req, vault)
        assert info.value.completed and info.value.cost == pytest.approx(0.25)
        res = run(engine, req, vault, remote_id=info.value.remote_id)
        assert vault.has(res.asset) and len(server.submissions) == 1


def test_submission_dropped_after_accept_is_not_resent(rig):
    """The engine accepted the job but the answer was lost: never sent twice; found and
    collected where the service lists recent jobs, else reported with the cost at risk."""
    name, server, engine, req, vault = rig
    server.script("submit", "drop_after_accept")
    ids: list[str] = []
    if name in ("replicate", "luma"):
        res = run(engine, req, vault, on_submitted=ids.append)
        assert vault.has(res.asset) and ids == [res.metadata["remote_id"]]
        assert ids[0] in server.jobs and len(server.billed) == 1
    else:
        with pytest.raises(E.SubmissionUnconfirmed) as info:
            run(engine, req, vault)
        assert info.value.cost == 0 and info.value.at_risk == pytest.approx(
            engine.estimate_cost(req))
    assert len(server.submissions) == 1  # the engine has it; we never sent it twice


def test_truncated_delivery_fails_over_and_is_costed(sample_project, keys):
    """A truncated clip from the first engine: a failed, billed attempt in the ledger (its
    cost recorded), the next engine of the chain makes the shot."""
    from studio_kit.production.failover import Router
    from studio_kit.production.routing import EngineSettings, RouteDecision, RoutingRules

    p = sample_project
    vault, ledger = p.vault(), p.ledger()
    ledger.decide(episode="01", gate="A", subject="budget", decision="approved", who="t")
    req = request_for(p)
    with FakeEngineServer("runway", job_latency_s=0.02) as rw, \
            FakeEngineServer("luma", job_latency_s=0.02) as lu:
        rw.script("submit", "truncated")
        engines = {"runway": make("runway", rw), "luma": make("luma", lu)}
        rules = RoutingRules(default="runway", failover=["luma"],
                             engines={n: EngineSettings() for n in engines})
        decision = RouteDecision(shot_id=req.spec.shot.id, engine="runway",
                                 chain=["runway", "luma"], rule="test", reason="test",
                                 duration_s=req.duration)
        router = Router(rules, vault=vault, ledger=ledger, engines=engines)
        out = asyncio.run(router.run_shot(req, decision, episode="01", project=p))
        assert out.ok and out.engine == "luma"
        assert out.attempts[0]["error"] == "DownloadRejected"
        assert len(rw.billed) == 1 and len(lu.billed) == 1
    rows = {r["engine"]: r for r in ledger.query("SELECT * FROM engine_calls")}
    assert rows["runway"]["status"] == "failed"
    assert rows["runway"]["cost"] == pytest.approx(engines["runway"].estimate_cost(req))
    assert rows["luma"]["status"] == "succeeded" and vault.has(rows["luma"]["asset"])
    ledger.close()
