"""Failover inside the episode render: a shot whose routed engine fails is made by the next
engine of its route; the take is kept, so a re-render does not call the failed engine again."""

from __future__ import annotations

import pytest
from fakes.engine_servers import KEY_ENV, FakeEngineServer
from test_pipeline_episode import small_sample

from studio_kit.budget import approve_gate_a
from studio_kit.errors import StudioError
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project import Project

OPTS = RenderOptions(width=160, height=90)  # no --engine: routing.yaml decides


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
        assert all(not s.failover for s in again.shots)


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
