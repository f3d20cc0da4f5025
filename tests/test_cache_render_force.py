"""`studio render --force` re-makes every cache (issue 18): TTS lines and QC reference stills
included (they used to be reused), each once per forced run; a normal re-render still hits
them; the generation cache is not forced (a take is never paid for, or made, again).

The real CLI in-process on the cut-down sample (3 shots, local engine, 64x36): real eSpeak
lines, real encodes, the real vault and ledger."""

from __future__ import annotations

import json
import sqlite3

import yaml
from test_pipeline_episode import small_sample

from studio_kit.audio import dialogue
from studio_kit.cli import main
from studio_kit.store.cache import NAMESPACES, reset_stats, stats


def _records(root) -> dict[tuple[str, str], dict]:
    return {(p.parent.name, p.stem): json.loads(p.read_text())
            for p in (root / ".studio" / "vault" / "stages").glob("*/*.json")}


def _changed(before: dict, after: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for (ns, key), rec in after.items():
        if before.get((ns, key), {}).get("created") != rec["created"]:
            out.setdefault(ns, set()).add(key)
    return out


def _calls(root) -> int:
    with sqlite3.connect(root / ".studio" / "ledger.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM engine_calls").fetchone()[0]


def test_force_remakes_tts_lines_qc_references_and_every_cache(tmp_path) -> None:
    root = small_sample(tmp_path / "lighthouse")
    args = ["render", str(root), "01", "--engine", "local", "--width", "64", "--height",
            "36", "--no-sign"]
    dialogue._CACHE.clear()
    assert main(args) == 0
    cold = _records(root)
    assert {"tts", "qc-reference", "generation"} <= {ns for ns, _ in cold}

    # a normal re-render after a line edit (a new process: no lines in memory) speaks the
    # edited line only and draws no reference again: both caches hit
    sb_path = root / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(sb_path.read_text())
    sb["acts"][0]["shots"][0]["dialogue"][0]["text"] = "That lamp has been dark for years."
    sb_path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    dialogue._CACHE.clear()
    reset_stats()
    assert main(args) == 0
    normal = stats()
    assert normal["tts"]["puts"] == 1 and normal["tts"]["hits"] >= 1, normal
    assert normal["qc-reference"]["puts"] == 0 and normal["qc-reference"]["hits"] >= 1, normal
    assert all(c["forced"] == 0 for c in normal.values()), normal
    warm = _records(root)
    assert set(_changed(cold, warm)["tts"]) and "qc-reference" not in _changed(cold, warm)

    # --force: every cache the render uses is made again (the lines still in this
    # process's memory too), each entry once; the takes are not
    calls = _calls(root)
    reset_stats()
    assert main([*args, "--force"]) == 0
    forced = stats()
    after = _records(root)
    changed = _changed(warm, after)
    # the episode's three lines spoken again, each once (the dialogue stage, then the mix
    # reuses them); the line the edit replaced is not asked for
    assert forced["tts"]["puts"] == len(changed["tts"]) == 3, (forced, changed)
    assert forced["tts"]["forced"] >= 3
    qc_refs = {k for ns, k in after if ns == "qc-reference"}
    assert changed["qc-reference"] == qc_refs, changed  # every reference drawn again
    assert forced["qc-reference"]["puts"] == len(qc_refs)
    for ns in {ns for ns, _ in warm} - {"generation"}:
        assert changed.get(ns), f"--force reused every {ns} entry"
    assert "generation" not in changed and _calls(root) == calls  # no take made again
    assert not NAMESPACES["generation"].forceable
    # re-made, not different: the same lines and the same reference measures
    for ns in ("tts", "qc-reference"):
        for key in changed[ns]:
            assert after[(ns, key)]["outputs"] == warm[(ns, key)]["outputs"], (ns, key)

    # and the render after the forced one hits everything again
    reset_stats()
    dialogue._CACHE.clear()
    assert main(args) == 0
    assert _changed(after, _records(root)) == {}
