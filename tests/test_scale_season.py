"""A season on Dask (issue 17): a 3-episode season (64x36, 1-2 shots each) on a LocalCluster
of 2 worker processes gives masters bit-identical to the in-process render; with the vault on
a loopback S3 server (moto) the same holds; a worker killed mid-render still completes the
season with every paid call (a fake paid engine on loopback) made and recorded once; the
coordinator alone writes the ledger; bad input is a clear StudioError."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections import Counter

import pytest
from fakes.engine_servers import KEY_ENV, FakeEngineServer
from scale_helpers import TINY, tiny_season

from studio_kit.cli import main
from studio_kit.errors import StudioError
from studio_kit.pipeline import render_episode
from studio_kit.production.budget import approve_gate_a
from studio_kit.project.series_folder import Project
from studio_kit.scale import make_executor, parse_episodes, render_season
from studio_kit.scale.dashboard import load_season, season_view
from studio_kit.store.hashing import file_hash

EPISODES = ["01", "02", "03"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """The in-process render (``render_episode``, as today) of each episode: master hashes."""
    root = tiny_season(tmp_path_factory.mktemp("ref") / "lighthouse")
    return {ep: file_hash(render_episode(root, ep, options=TINY, out_dir=root / "out").master)
            for ep in EPISODES}


@pytest.fixture(scope="module")
def cluster():
    with make_executor(workers=2) as ex:
        yield ex


def _ledger_rows(root, sql, params=()):
    with Project.load(root).ledger() as led:
        return led.query(sql, params)


def test_a_season_on_two_workers_is_bit_identical_to_the_in_process_render(
        tmp_path, reference, cluster):
    root = tiny_season(tmp_path / "lighthouse")
    season = render_season(root, EPISODES, options=TINY, out_dir=root / "out",
                           executor=cluster)
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    assert season.executor == "dask" and season.workers == 2
    assert {e.episode: file_hash(e.master) for e in season.episodes} == reference
    assert len({e.worker for e in season.episodes}) == 2  # both workers rendered
    for e in season.episodes:
        record = json.loads((root / "out" / f"episode-{e.episode}" / "render.json").read_text())
        assert record["run_id"] == e.run_id and record["master"] == e.master
        assert str(tmp_path) in record["master"] and "studio-season-" not in json.dumps(record)
        assert os.path.isfile(record["prores"]) and e.stages["generate"]["run"] >= 1
        # the coordinator recorded the worker's stage rows under its own run
        rows = _ledger_rows(root, "SELECT stage FROM stage_results WHERE run_id=?",
                            (e.run_id,))
        assert {"generate", "qc", "mux", "prores"} <= {r["stage"] for r in rows}
    runs = _ledger_rows(root, "SELECT episode, record FROM runs WHERE kind='render' "
                              "AND status='ok'")
    assert sorted(r["episode"] for r in runs) == EPISODES  # one render run per episode
    # the dashboard's view of it
    view = season_view(load_season(root / "out"))
    assert view.done == view.total == 3 and view.progress == 1.0 and not view.failures
    assert "generate" in view.stages and view.rows[0]["generate"].endswith("cached")


def test_the_in_process_season_is_the_same_and_needs_no_cluster(tmp_path, reference):
    root = tiny_season(tmp_path / "lighthouse")
    season = render_season(root, ["02"], options=TINY, out_dir=root / "out")
    assert season.executor == "in-process" and season.ok
    assert file_hash(season.episode("02").master) == reference["02"]


@pytest.fixture()
def s3(monkeypatch):
    """A loopback S3 server (moto's server mode) and a bucket; credentials and endpoint in
    the environment only (the workers inherit them when the cluster starts)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": url}.items():
        monkeypatch.setenv(k, v)
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="season")
    yield url
    server.stop()


def test_a_season_with_the_vault_on_s3_is_bit_identical(tmp_path, reference, s3):
    import boto3

    root = tiny_season(tmp_path / "lighthouse")
    with make_executor(workers=2) as ex:  # started after the environment is set
        season = render_season(root, EPISODES, options=TINY, out_dir=root / "out",
                               executor=ex, vault_url="s3://season/lighthouse")
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    assert {e.episode: file_hash(e.master) for e in season.episodes} == reference
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3).list_objects_v2(
        Bucket="season", MaxKeys=1000).get("Contents", [])]
    masters = {file_hash(e.master) for e in season.episodes}
    assert masters <= {k.rsplit("/", 1)[1] for k in keys if "/objects/" in k}
    assert any("/stages/mux/" in k for k in keys) and not any("/tmp/" in k for k in keys)
    # no secret anywhere in what the run wrote
    for path in (root / "out").rglob("*.json"):
        assert "testing" not in path.read_text(errors="replace")


def _route_to(root, url: str) -> None:
    (root / "routing.yaml").write_text(
        "schema_version: 1\ndefault: runway\nfailover: []\n"
        f"engines:\n  runway: {{base_url: '{url}', concurrency: 2}}\nrules: []\n")


@pytest.mark.heavy  # ~80 s on 2 busy cores: paid takes + QC on the coordinator, a restart
def test_killing_a_worker_mid_render_still_pays_every_call_once(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "0.01")
    monkeypatch.setenv("STUDIO_ENGINE_MAX_POLL_S", "0.05")
    root = tiny_season(tmp_path / "lighthouse")
    opts = TINY.model_copy(update={"engine": None, "attempts": 1})
    with FakeEngineServer("runway") as server:
        _route_to(root, server.url)
        for ep in EPISODES:
            approve_gate_a(Project.load(root), ep, who="producer")
        with make_executor(workers=2) as ex:
            pids = ex.worker_pids()
            killed: list[int] = []

            def kill_when_rendering(season) -> None:
                # the first episode is on a worker: kill the worker that has it
                if killed or not any(e.status == "rendering" for e in season.episodes):
                    return
                deadline = time.time() + 60
                while time.time() < deadline:
                    busy = [a for a, tasks in ex.client.processing().items() if tasks]
                    if busy:
                        time.sleep(0.5)  # mid-render
                        killed.append(pids[busy[0]])
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        return
                    time.sleep(0.05)

            season = render_season(root, EPISODES, options=opts, out_dir=root / "out",
                                   executor=ex, progress=kill_when_rendering)
        billed = server.billed_per_request()
    assert killed, "no worker was killed"
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    assert all(os.path.isfile(e.master) for e in season.episodes)
    # the episode the killed worker had was rendered again elsewhere (only that run counts)
    assert not any(e.worker.endswith(f":{killed[0]}") for e in season.episodes)
    shots = sum(len(Project.load(root).storyboard(ep).shots) for ep in EPISODES)
    assert len(billed) == shots and set(billed.values()) == {1}  # each request billed once
    calls = _ledger_rows(root, "SELECT request_hash, cost, run_id FROM engine_calls WHERE "
                               "engine='runway' AND status='succeeded'")
    per_request = Counter(r["request_hash"] for r in calls)
    assert len(per_request) == shots and set(per_request.values()) == {1}  # recorded once
    assert all(r["cost"] > 0 for r in calls)
    kinds = {r["id"]: r["kind"] for r in _ledger_rows(root, "SELECT id, kind FROM runs")}
    assert {kinds[r["run_id"]] for r in calls} == {"season-pictures"}  # the coordinator's
    spend = sum(r["cost"] for r in calls)
    assert abs(season.total_cost - spend) < 1e-6


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch):
    assert parse_episodes("01-03", ["01", "02", "03"]) == EPISODES
    assert parse_episodes("3,1", ["01", "02", "03"]) == ["03", "01"]
    with pytest.raises(StudioError, match="no episode 03"):
        parse_episodes("01-07", ["01", "02"])
    with pytest.raises(StudioError, match="not an episode or a range"):
        parse_episodes("one", ["01"])
    with pytest.raises(StudioError, match="both given"):
        make_executor(workers=2, scheduler="tcp://127.0.0.1:9")
    t0 = time.perf_counter()
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")  # nothing listens
    with pytest.raises(StudioError) as err:
        make_executor()
    assert "not reachable" in str(err.value) and "[--scheduler]" in str(err.value)
    assert time.perf_counter() - t0 < 30


def test_studio_render_season_cli(tmp_path, capsys, reference):
    root = tiny_season(tmp_path / "lighthouse")
    code = main(["render-season", str(root), "--episodes", "02", "--engine", "local",
                 "--width", "64", "--height", "36", "--no-sign", "--out", str(root / "out")])
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert code == 0, text
    assert "season: 1/1 episodes" in text and "in-process" in text
    # the CLI's own default languages (the series') give another master: it exists
    assert (root / "out" / "episode-02" / "episode-02.mp4").is_file()
    code = main(["render-season", str(root), "--episodes", "9"])
    text = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "no episode 09" in text, text


@pytest.mark.heavy  # ~75 s: three papermill kernels
def test_a_season_notebook_leaves_one_executed_notebook_per_episode(tmp_path):
    from studio_kit.scale.notebook import run_season_notebook

    root = tiny_season(tmp_path / "lighthouse")
    nb = run_season_notebook(root, ["01", "02"], TINY, out_dir=root / "out")
    assert nb.is_file()
    for ep in ("01", "02"):
        executed = list((root / "out" / f"episode-{ep}" / "notebooks").glob("render-*.ipynb"))
        assert len(executed) == 1
    text = nb.read_text()
    assert "2/2 episodes" in text and hashlib.sha256(text.encode()).hexdigest()


def test_a_worker_never_pays_a_paid_request_without_a_take(tmp_path, monkeypatch):
    """``paid_calls=False`` (what every season worker renders with): a paid request whose
    take is not in the vault is refused before the engine is asked; nothing is billed."""
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    root = tiny_season(tmp_path / "lighthouse")
    with FakeEngineServer("runway") as server:
        _route_to(root, server.url)
        approve_gate_a(Project.load(root), "02", who="producer")
        opts = TINY.model_copy(update={"engine": None, "attempts": 1, "paid_calls": False})
        with pytest.raises(StudioError) as err:
            render_episode(root, "02", options=opts, out_dir=root / "out")
        assert not server.calls and not server.billed
    assert "not called on a worker" in str(err.value)
    assert not _ledger_rows(root, "SELECT 1 FROM engine_calls WHERE engine='runway'")
