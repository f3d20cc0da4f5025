"""The vault (content-addressed objects + stage cache) and the ledger (SQLite, WAL)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio_kit.errors import VaultError
from studio_kit.store.ledger import Ledger
from studio_kit.store.vault import Vault


def test_put_get_and_dedupe(tmp_path):
    v = Vault(tmp_path / "vault")
    a = v.put_bytes(b"hello")
    assert v.put_bytes(b"hello") == a
    assert v.get(a).read_bytes() == b"hello"
    src = tmp_path / "clip.bin"
    src.write_bytes(os.urandom(3 << 20))
    d = v.put_file(src)
    assert v.get(d).read_bytes() == src.read_bytes()
    assert src.exists()
    d2 = v.put_file(src, move=True)
    assert d2 == d and not src.exists()
    with pytest.raises(VaultError, match="not in the vault"):
        v.get("0" * 64)


def test_writer_stores_on_success_only(tmp_path):
    v = Vault(tmp_path / "vault")
    with v.writer(".mp4") as (tmp, out):
        tmp.write_bytes(b"video")
    assert v.get(out[0]).read_bytes() == b"video"
    with pytest.raises(RuntimeError), v.writer() as (tmp, out2):
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert out2 == [] and not list((v.root / "tmp").iterdir())


def test_stage_cache_needs_its_objects(tmp_path):
    v = Vault(tmp_path / "vault")
    d = v.put_bytes(b"frames")
    v.remember("picture", "k1", {"clip": d}, meta={"shot": "s1"})
    assert v.lookup("picture", "k1").outputs == {"clip": d}
    assert v.lookup("picture", "k2") is None
    v.path(d).unlink()
    assert v.lookup("picture", "k1") is None  # stale records are misses, not crashes
    with pytest.raises(VaultError):
        v.remember("picture", "k3", {"clip": d})


def test_verify_finds_and_quarantines_corruption(tmp_path):
    v = Vault(tmp_path / "vault")
    good, bad = v.put_bytes(b"good"), v.put_bytes(b"bad")
    v.remember("audio", "k", {"wav": bad})
    v.path(bad).write_bytes(b"bit rot")
    report = v.verify()
    assert report.checked == 2 and report.corrupt == [bad] and not report.ok
    v.quarantine(bad)
    assert v.lookup("audio", "k") is None and v.has(good)


def _hammer(args: tuple[str, int]) -> list[str]:
    root, n = args
    v = Vault(root)
    return [v.put_bytes(f"object {i % 7}".encode()) for i in range(n)]


def test_concurrent_writers_never_corrupt(tmp_path):
    root = str(tmp_path / "vault")
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.map(_hammer, [(root, 40)] * 4)
    assert len({d for r in results for d in r}) == 7
    assert Vault(root).verify().ok


def _ledger_writer(args: tuple[str, int]) -> int:
    path, worker = args
    with Ledger(path) as led:
        run = led.start_run("render", episode="01")
        for i in range(25):
            call = led.begin_call(engine="fake", request_hash=f"{worker}-{i}", run_id=run)
            led.update_call(call, status="succeeded", cost=0.5, asset=f"a{worker}{i}")
            led.stage_result(run, "picture", f"k{i}", cache_hit=bool(i % 2))
        led.finish_run(run)
    return worker


def test_threads_moving_the_same_bytes_in_at_once(tmp_path):
    """Two threads of one process storing identical content (e.g. two equal transition
    regions) both succeed: their temporary names differ."""
    import threading

    vault, errors = Vault(tmp_path / "v"), []

    def store(i: int, k: int) -> None:
        src = tmp_path / f"src{i}-{k}"
        src.write_bytes(b"same bytes %d" % k)
        try:
            assert vault.put_file(src, move=True)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    for k in range(200):
        threads = [threading.Thread(target=store, args=(i, k)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert vault.verify().ok


def test_ledger_concurrent_processes(tmp_path):
    path = str(tmp_path / "ledger.sqlite")
    with mp.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_ledger_writer, [(path, w) for w in range(4)])) == [0, 1, 2, 3]
    with Ledger(path) as led:
        assert led.total_cost() == pytest.approx(4 * 25 * 0.5)
        assert led.total_cost("01") == pytest.approx(50.0)
        assert led.query("SELECT COUNT(*) n FROM stage_results")[0]["n"] == 100
        assert led.paid_asset("2-7") == "a27"
        assert led.schema_version >= 1


def test_ledger_pending_call_survives_kill(tmp_path):
    """A process killed between submit and completion leaves a pending call to resume."""
    path = tmp_path / "ledger.sqlite"
    code = textwrap.dedent(f"""
        import os, signal
        from studio_kit.store.ledger import Ledger
        led = Ledger({str(path)!r})
        c = led.begin_call(engine="runway", request_hash="req-1")
        led.update_call(c, status="submitted", remote_id="job-42")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Ledger(path) as led:
        pending = led.pending_call("req-1")
        assert pending and pending["remote_id"] == "job-42"
        assert led.paid_asset("req-1") is None


def test_gate_decisions_latest_wins(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        led.decide(episode="01", gate="B", subject="s1", decision="rejected", who="ana",
                   why="hair colour drifted")
        led.decide(episode="01", gate="B", subject="s1", decision="approved", who="ana")
        assert led.latest_decision("01", "B", "s1")["decision"] == "approved"
        assert led.latest_decision("01", "C", "master") is None


def test_registry_finds_builtins_and_rejects_duplicates():
    from studio_kit.registry import Registry

    reg: Registry = Registry("thing")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(int)
    assert reg.names() == ["a"]
    with pytest.raises(Exception, match="b"):
        reg.get("b")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    from studio_kit.store import yamlio

    path = tmp_path / "series.yaml"
    yamlio.atomic_write_text(path, "title: old\n")
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(yamlio.os, "replace", boom)
    with pytest.raises(OSError):
        yamlio.atomic_write_text(path, "title: new\n")
    assert path.read_text() == "title: old\n"
    assert [p.name for p in Path(tmp_path).iterdir()] == ["series.yaml"]


# -- issue 13: corruption found on read, repaired, stale temp cleaned -------------------
def _flip(path: Path, at: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def test_flipped_byte_is_a_miss_and_quarantined_then_restored(tmp_path: Path) -> None:
    from studio_kit.errors import VaultError
    from studio_kit.store.vault import Vault

    v = Vault(tmp_path / "vault")
    d = v.put_bytes(b"clip bytes " * 1000)
    v.remember("grade", "k1", {"graded": d})
    assert v.lookup("grade", "k1") is not None and v.get(d)
    _flip(v.path(d))
    with pytest.raises(VaultError, match="corrupt") as info:
        v.get(d)
    assert info.value.hint
    assert not v.has(d) and (v.root / "quarantine" / d).is_file()
    assert v.lookup("grade", "k1") is None  # the record points to a bad object: a miss
    # storing the same bytes again (a forced stage) replaces a bad file of that name
    v.put_bytes(b"clip bytes " * 1000)
    _flip(v.path(d))
    assert v.put_bytes(b"clip bytes " * 1000) == d
    assert v.get(d).read_bytes() == b"clip bytes " * 1000
    assert v.lookup("grade", "k1") is not None


def test_vault_verify_repair_and_cli(sample_dir: Path) -> None:
    from typer.testing import CliRunner

    from studio_kit.cli import _load_commands, app
    from studio_kit.project.series_folder import Project

    v = Project.load(sample_dir).vault()
    good, bad = v.put_bytes(b"a" * 100), v.put_bytes(b"b" * 100)
    v.remember("s", "k", {"x": bad})
    _flip(v.path(bad), 5)
    _load_commands()
    out = CliRunner().invoke(app, ["vault", "verify", str(sample_dir)])
    assert out.exit_code != 0 and "1 corrupt" in out.output
    out = CliRunner().invoke(app, ["vault", "verify", str(sample_dir), "--repair"])
    assert out.exit_code == 0, out.output
    assert "quarantined" in out.output and v.has(good) and not v.has(bad)
    assert v.verify().ok


def test_stale_temp_of_dead_processes_is_cleaned_on_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    from studio_kit.store import vault as vault_mod

    root = tmp_path / "vault"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / "tmp" / f"p{dead.pid}-edit-x").mkdir(parents=True)
    (root / "tmp" / f"p{dead.pid}-edit-x" / "big.mp4").write_bytes(b"x" * 1000)
    mine = root / "tmp" / f"p{os.getpid()}-edit-y"
    mine.mkdir()
    unknown_old = root / "tmp" / "tmpabc.mp4"
    unknown_old.write_bytes(b"y")
    os.utime(unknown_old, (1, 1))
    unknown_new = root / "tmp" / "tmpdef.mp4"
    unknown_new.write_bytes(b"z")
    vault_mod._CLEANED.discard(str(root.resolve()))
    v = vault_mod.Vault(root)
    assert sorted(p.name for p in (root / "tmp").iterdir()) == sorted([mine.name,
                                                                      unknown_new.name])
    assert v.work_dir("stage-").name.startswith(f"p{os.getpid()}-stage-")
