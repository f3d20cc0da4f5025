"""`studio deliver --burn-in LANG --thumbnail-title TEXT` and `studio cutdown` (trailer,
teaser, vertical clip) on a tiny approved render: the files they write, checked by
decoding them; refusals (a language the render lacks, an unknown kind) exit 2 with the
field and a hint. One tiny render (2 shots at 64x36) per module."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from tiny_sample import sample_copy, tiny_render

from studio_kit.cli import main
from studio_kit.production import gates
from studio_kit.project.series_folder import Project


@pytest.fixture(scope="module")
def approved(tmp_path_factory):
    root = tmp_path_factory.mktemp("distcli") / "lighthouse"
    sample_copy(root)
    result = tiny_render(root)
    with Project.load(root).ledger() as led:
        gates.decide_master(led, "01", result.master, approve=True, who="producer")
    return root, result


def _video(path: Path) -> tuple[int, int, float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.width, s.height, float(c.duration or 0) / 1e6


def test_deliver_burns_captions_in_and_titles_the_thumbnail(approved, tmp_path, capsys
                                                            ) -> None:
    from studio_kit.distribution.thumbnails import choose_thumbnails

    root, result = approved
    out = tmp_path / "deliver"
    assert main(["deliver", str(root), "01", "-p", "shorts", "--burn-in", "en",
                 "--thumbnail-title", "The light goes out", "--thumbnails", "1",
                 "-o", str(out)]) == 0
    said = " ".join("".join(capsys.readouterr()).split())
    assert "shorts:" in said and "en captions burned in" in said
    stem = Path(result.master).stem
    folder = out / "shorts"
    assert _video(folder / f"{stem}.shorts.mp4")[:2] == (1080, 1920)
    plan = json.loads((folder / f"{stem}.shorts.burn-en.json").read_text())
    assert plan["language"] == "en" and plan["cues"]
    meta = json.loads((folder / f"{stem}.shorts.json").read_text())
    assert meta["burned_captions"] == "en" and set(meta["captions"]) == {"en", "fr"}
    # the thumbnail is the same pick with the title drawn on it
    from studio_kit.distribution.hub import source
    from studio_kit.distribution.reframe import CropPath

    titled = folder / meta["thumbnails"][0]
    tl = source(root, "01").tl()
    crop = CropPath.model_validate_json((folder / f"{stem}.shorts.crop.json").read_text())
    plain = choose_thumbnails(result.master, tl, tmp_path / "plain", n=1, crop=crop,
                              stem="plain")
    a = np.asarray(Image.open(plain[0].path).convert("RGB"), int)
    b = np.asarray(Image.open(titled).convert("RGB"), int)
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=-1) > 24
    assert changed.mean() > 0.01  # the title is drawn (placement: test_distribution_titles)


def test_cutdown_teaser_trailer_and_vertical_clip(approved, tmp_path, capsys) -> None:
    root, _result = approved
    out = tmp_path / "cuts"
    assert main(["cutdown", str(root), "01", "--kind", "teaser", "--length", "2",
                 "-o", str(out)]) == 0
    said = " ".join("".join(capsys.readouterr()).split())
    assert "teaser for youtube:" in said and "of 2 s asked" in said
    rec = json.loads(next((out / "youtube-trailer").glob("*.trailer.json")).read_text())
    w, h, secs = _video(Path(rec["video"]))
    assert (w, h) == (1920, 1080) and secs == pytest.approx(2.0, abs=0.15)
    assert rec["target_s"] == 2.0 and rec["pieces"]
    assert main(["cutdown", str(root), "01", "--kind", "vertical", "--length", "3",
                 "--burn-in", "fr", "-o", str(out)]) == 0
    said = " ".join("".join(capsys.readouterr()).split())
    assert "vertical for shorts:" in said and "fr captions burned in" in said
    rec = json.loads(next((out / "shorts-vertical").glob("*.vertical.json")).read_text())
    w, h, secs = _video(Path(rec["video"]))
    assert (w, h) == (1080, 1920) and secs == pytest.approx(3.0, abs=0.15)
    assert rec["burned_captions"] == "fr"


def test_cli_refusals_name_the_field(approved, tmp_path, capsys) -> None:
    root, _ = approved
    assert main(["deliver", str(root), "01", "-p", "shorts", "--burn-in", "de",
                 "-o", str(tmp_path / "d")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no 'de' captions to burn in" in err and "en, fr" in err
    assert not (tmp_path / "d" / "shorts").exists() or not any(
        (tmp_path / "d" / "shorts").glob("*.mp4"))
    assert main(["cutdown", str(root), "01", "--kind", "blooper"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown cut-down kind 'blooper'" in err and "trailer, teaser, vertical" in err
    assert main(["cutdown", str(root), "01", "--length", "0"]) == 2
    assert "--length" in " ".join(capsys.readouterr().err.split())
