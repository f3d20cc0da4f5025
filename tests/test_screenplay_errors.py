"""Bad scripts give a StudioError naming the file (and line) with a hint; never a traceback."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio_kit.errors import ScriptError, StudioError
from studio_kit.screenplay import BreakdownInput, breakdown, import_script, parse_fountain
from studio_kit.screenplay.importer import resolve_characters, resolve_scenes

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / ".venv" / "bin" / "studio"


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


BAD = {
    "binary.fountain": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary",
                        None),
    "empty.fountain": (b"  \n\n\t\n", "empty", None),
    "latin1.fountain": ("INT. CAFÉ - DAY\n\nMARA\nBonjour.\n".encode()
                        + "\nÉLODIE\nCafé.\n".encode("latin-1"), "not UTF-8", 6),
    "titleonly.fountain": (b"Title: A Film\nAuthor: Someone\n", "only a title page", None),
    "control.fountain": (b"INT. A - DAY\n\nMARA\nHi\x07 there.\n", "control character", 4),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_scripts(sample_dir: Path, tmp_path: Path, name: str):
    data, message, line = BAD[name]
    path = tmp_path / name
    path.write_bytes(data)
    before = _tree_digest(sample_dir)
    with pytest.raises(ScriptError) as err:
        import_script(sample_dir, path, "05")
    assert message in str(err.value) and name in str(err.value)
    assert err.value.hint
    assert err.value.line == line
    assert _tree_digest(sample_dir) == before  # the project on disk is unchanged


def test_oversized_script_refused_before_reading(tmp_path: Path):
    path = tmp_path / "huge.fountain"
    with open(path, "wb") as fh:  # 6 MB sparse file: refused from its size alone
        fh.truncate(6 * 1024 * 1024)
    with pytest.raises(ScriptError) as err:
        import_script(tmp_path / "new", path, "01", create=True)
    assert "limit is 5 MB" in str(err.value) and "huge.fountain" in str(err.value)
    assert not (tmp_path / "new").exists()


def test_missing_file_and_bad_episode(tmp_path: Path, sample_dir: Path):
    with pytest.raises(ScriptError, match="not found"):
        import_script(sample_dir, tmp_path / "nope.fountain", "02")
    script = sample_dir / "episodes/02/script.fountain"
    with pytest.raises(StudioError, match="not an episode number"):
        import_script(sample_dir, script, "two")
    with pytest.raises(StudioError, match="already exists"):
        import_script(sample_dir, script, "02", create=True)


# -- property test: fountain-ish noise never raises anything but StudioError -----------------
_PIECES = st.sampled_from([
    "INT. HOUSE - NIGHT", "EXT. BEACH - DAY", "I/E CAR - CONTINUOUS", ".FORCED", ".",
    "int. lower - later", "MARA", "THEO (V.O.)", "@mcTavish", "ANA ^", "BEN^", "(beat)", "(",
    ")", "Hello there.", "CUT TO:", "> FADE OUT.", "FADE OUT.", "# ACT ONE", "## sub", "#",
    "= synopsis", "=", "===", "[[lang: fr]]", "[[lang: xx-YY]]", "[[note]]", "[[", "]]",
    "/* bone", "yard */", "Title: X", "Language: fr", "~lyric", "!FORCED ACTION", "  ", "",
    "", "", "**bold** _u_ *i*", "> centered <", "^", "@", "()", "É", "日本語のせりふ",
])


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
_LINE = st.one_of(_PIECES, _PIECES, _PIECES, _TEXT)
_HEADING = st.sampled_from(["INT. HOUSE - NIGHT", "EXT. BEACH - DAY", ".FORCED",
                            "I/E CAR - CONTINUOUS", "EXT. É - DAWN"]).map(lambda h: [h])
_PARA = st.one_of(_HEADING, st.lists(_LINE, min_size=1, max_size=4))


@st.composite
def fountainish(draw) -> str:
    """Paragraphs of Fountain pieces and random text; now and then any characters at all."""
    paras = draw(st.lists(_PARA, min_size=0, max_size=14))
    text = "\n\n".join("\n".join(p) for p in paras)
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.text(max_size=20))
    return text


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(fountainish())
def test_random_fountainish_text_only_raises_studio_errors(text: str):
    try:
        script = parse_fountain(text, "fuzz.fountain")
        ids, _, _ = resolve_scenes(script, {})
        chars, _, _ = resolve_characters(script, {}, "en")
        sb, _ = breakdown(script, BreakdownInput("01", ids, chars, preamble_scene="opening"))
    except StudioError as err:
        assert str(err).startswith("fuzz.fountain")
        return
    ids_seen = [s.id for s in sb.shots]
    assert len(ids_seen) == len(set(ids_seen))
    assert all(s.duration_s > 0 for s in sb.shots)


# -- CLI -------------------------------------------------------------------------------------
def test_cli_import_errors_exit_2_with_a_clear_message(tmp_path: Path):
    bad = tmp_path / "photo.fountain"
    bad.write_bytes(b"\x00\x01\x02binary")
    proc = subprocess.run([str(STUDIO), "import-script", str(tmp_path / "s"), str(bad),
                           "--episode", "01", "--new"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "photo.fountain" in proc.stderr and "binary" in proc.stderr
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_cli_import_new_series_then_validate(tmp_path: Path):
    script = ROOT.parent / "shared" / "corpus" / "screenplays" / "Brick-and-Steel.fountain"
    if not script.is_file():
        pytest.skip(f"no corpus at {script.parent}")
    proc = subprocess.run([str(STUDIO), "import-script", str(tmp_path / "bs"), str(script),
                           "--episode", "1", "--new", "--genre", "action"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "shots:" in proc.stderr and "created" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "studio_kit.cli", "validate",
                           str(tmp_path / "bs")], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "No module named studio_kit.cli.__main__" in proc.stderr:
        proc = subprocess.run([str(STUDIO), "validate", str(tmp_path / "bs")],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stderr + proc.stdout
