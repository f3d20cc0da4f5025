"""Failover inside the episode render: a shot whose routed engine fails is made by the next
engine of its route; the take is kept, so a re-render does not call the failed engine again."""

from __future__ import annotations

import pytest
from fakes.engine_servers import KEY_ENV, FakeEngineServer
from test_pipeline_episode import small_sample

from studio_kit.errors import StudioError
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.production.budget import approve_gate_a
from studio_kit.project.series_folder import Project

# no --engine: routing.yaml decides. The fakes deliver test patterns, not the bible's people:
# QC fails them, and with a budget of one take the first delivered take is kept (failover on
# engine errors does not spend the budget)
OPTS = RenderOptions(width=160, height=90, attempts=1)


def _route_everything_to(root, server_url: str, failover: str) -> None:
    (root / "routing.yaml").write_text(
        "schema_version: 1\n"
        "default: runway\n"
        f"failover: [{failover}]\n"
        "engines:\n"
        f"  runway: {{base_url: '{server_url}', concurrency: 1}}\n"
        "rules: []\n")


def test_a_failing_engine_fails_over_and_the_take_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    root = small_sample(tmp_path / "lighthouse")
    with FakeEngineServer("runway") as server:
        server.script("submit", *["http401"] * 10)  # the key is refused: every submit fails
        _route_everything_to(root, server.url, "local")
        p = Project.load(root)
        approve_gate_a(p, "01", who="producer")
        shots = [s.id for s in p.storyboard("01").shots]
        result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
        assert [s.engine for s in result.shots] == ["local"] * len(shots)
        assert all(s.failover and s.failover[0].startswith("runway: ") for s in result.shots)
        assert result.total_cost == 0 and len(server.calls) >= len(shots)
        with p.ledger() as led:
            rows = led.query("SELECT engine, status, cost FROM engine_calls")
        failed = [r for r in rows if r["engine"] == "runway"]
        assert len(failed) == len(shots) and all(r["cost"] == 0 for r in failed)
        assert {r["status"] for r in failed} != {"succeeded"}
        # re-render: the local takes are kept; runway is not asked again
        calls = len(server.calls)
        again = render_episode(root, "01", options=OPTS, out_dir=root / "out")
        assert len(server.calls) == calls
        assert [s.asset for s in again.shots] == [s.asset for s in result.shots]
        assert all(len(s.failover) == 1 and s.failover[0].startswith("runway: failed before")
                   and "--retry-failed" in s.failover[0] for s in again.shots)


def test_a_changed_route_is_followed_and_failed_spend_is_counted(tmp_path, monkeypatch):
    """A take is kept only for the route's first engine (or after the engines before it
    failed): moving the route from local to runway re-generates on runway. A job billed and
    then rejected counts in the render's spend."""
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "0.01")
    monkeypatch.setenv("STUDIO_ENGINE_MAX_POLL_S", "0.05")
    root = small_sample(tmp_path / "lighthouse")
    with FakeEngineServer("runway") as server:
        (root / "routing.yaml").write_text("schema_version: 1\ndefault: local\nrules: []\n")
        first = render_episode(root, "01", options=OPTS, out_dir=root / "out")
        assert {s.engine for s in first.shots} == {"local"} and not server.submissions
        _route_everything_to(root, server.url, "local")
        approve_gate_a(Project.load(root), "01", who="producer")
        server.script("submit", "corrupt")  # the first job is billed, then fails to decode
        again = render_episode(root, "01", options=OPTS, out_dir=root / "out")
        engines = [s.engine for s in again.shots]
        assert engines.count("runway") == len(engines) - 1 and len(server.submissions) >= 3
        assert again.total_cost == pytest.approx(sum(s.cost for s in again.shots))
        with Project.load(root).ledger() as led:
            billed = sum(r["cost"] or 0 for r in led.query("SELECT cost FROM engine_calls"))
            rejected = led.query("SELECT cost FROM engine_calls WHERE status != 'succeeded'")
        assert rejected and rejected[0]["cost"] > 0  # the corrupt job was billed
        assert again.total_cost == pytest.approx(billed)  # ... and counted in the render


def test_every_engine_failing_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    root = small_sample(tmp_path / "lighthouse")
    with FakeEngineServer("runway") as server:
        server.script("submit", *["http401"] * 10)
        _route_everything_to(root, server.url, "runway")  # no free engine to fall back to
        approve_gate_a(Project.load(root), "01", who="producer")
        with pytest.raises(StudioError, match="every engine of its route failed") as err:
            render_episode(root, "01", options=OPTS, out_dir=root / "out")
        assert "runway: " in str(err.value) and "routing.yaml" in (err.value.hint or "")


def test_engine_option_ignores_a_broken_routing_file(tmp_path):
    """`--engine local` renders every shot on that engine: routing.yaml is not read, so a
    broken one does not stop the render (without --engine it is a clear error)."""
    root = small_sample(tmp_path / "lighthouse")
    (root / "routing.yaml").write_text("schema_version: 1\ndefault: [not, an, engine\n")
    with pytest.raises(StudioError, match="routing.yaml"):
        render_episode(root, "01", options=OPTS, out_dir=root / "out")
    res = render_episode(root, "01", options=RenderOptions(engine="local", width=160,
                                                             height=90), out_dir=root / "out")
    assert {s.engine for s in res.shots} == {"local"}
