"""Conditioning: the bible's reference images, the previous shot's last frame and LoRA ids
reach the engines that take them, in each service's own body (seen by the loopback fakes)."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
from fakes.engine_servers import ENGINE_SERVICE, FakeEngineServer, tiny_mp4
from PIL import Image

from studio_kit.engines.factory import get_engine
from studio_kit.models import LoraRef
from studio_kit.production.conditioning import (
    Conditioning,
    apply_conditioning,
    last_frame,
    shot_conditioning,
)
from studio_kit.production.routing import build_request

SHOT = "s02-cliff-mara"  # mara, close-up, on the cliff path
FAST = dict(poll_interval=0.01, max_poll_interval=0.05, timeout_s=5.0, retry_backoff=0.01)


def _png(path, colour) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 32), colour).save(path, format="PNG")
    return path.read_bytes()


@pytest.fixture
def bible(sample_project):
    """The sample with two reference images for mara, a LoRA, and a scene frame."""
    p = sample_project
    root = p.root
    images = {"characters/mara/front.png": _png(root / "characters/mara/front.png", (200, 40, 30)),
              "characters/mara/side.png": _png(root / "characters/mara/side.png", (30, 40, 200)),
              "scenes/cliff_path.png": _png(root / "scenes/cliff_path.png", (90, 90, 90))}
    p.characters["mara"] = p.characters["mara"].model_copy(update={
        "reference_images": ["characters/mara/front.png", "characters/mara/side.png"],
        "lora": LoraRef(name="mara-v1", uri="loras/mara_v1.safetensors", trigger="MARAQ")})
    p.scenes["cliff_path"] = p.scenes["cliff_path"].model_copy(
        update={"reference_frame": "scenes/cliff_path.png"})
    return p, images


def _decode(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    assert head.startswith("data:image/png;base64")
    return base64.b64decode(data)


def _sent_images(engine: str, job) -> list[bytes]:
    """The images a fake saw in a submission body, in the order the service reads them."""
    b = job.body
    if engine == "runway":
        return [_decode(x["uri"]) for x in b.get("promptImage", [])]
    if engine == "luma":
        return [_decode(k["url"]) for k in (b.get("keyframes") or {}).values()]
    if engine in ("kling", "pika"):
        urls = b.get("input_image_urls") or ([b["image_url"]] if "image_url" in b else [])
        return [_decode(u) for u in urls]
    if engine == "replicate":
        inp = b["input"]
        start = [inp["start_image"]] if "start_image" in inp else []
        return [_decode(u) for u in start + inp.get("reference_images", [])]
    return []


def _generate(name, req, vault):
    with FakeEngineServer(ENGINE_SERVICE[name], job_latency_s=0.02) as server:
        eng = get_engine(name, base_url=server.url, **FAST)
        res = asyncio.run(eng.run_job(req, vault))
        assert vault.has(res.asset)
        (job,) = server.jobs.values()
        return job


EXPECTED = {  # how many of the 3 images each service takes for a shot that does not continue
    "runway": 1, "luma": 1, "pika": 1, "kling": 3, "replicate": 3}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_request_body_carries_the_bible_references(bible, keys, name):
    p, images = bible
    vault = p.vault()
    req = build_request(p, "01", SHOT)
    eng = get_engine(name)
    cond = shot_conditioning(p, req.spec, eng, vault=vault)
    want = [images["characters/mara/front.png"], images["characters/mara/side.png"],
            images["scenes/cliff_path.png"]][:EXPECTED[name]]
    assert [vault.get(d).read_bytes() for d in cond.references] == want
    assert cond.lora == []  # these engines load no LoRA
    assert any("loads no LoRAs" in n for n in cond.notes)
    if EXPECTED[name] < 3:
        assert any("left out" in n for n in cond.notes)
    job = _generate(name, apply_conditioning(req, cond), vault)
    assert _sent_images(name, job) == want
    if name == "kling":
        assert job.model.endswith("/elements")  # several subject images: the elements model


def test_comfyui_gets_the_lora_and_no_images(bible):
    p, _ = bible
    vault = p.vault()
    req = build_request(p, "01", SHOT)
    cond = shot_conditioning(p, req.spec, get_engine("comfyui"), vault=vault)
    assert cond.references == [] and cond.lora == ["mara-v1"]
    assert any("comfyui takes no reference images: 3 left out" in n for n in cond.notes)
    job = _generate("comfyui", apply_conditioning(req, cond), vault)
    loras = [n["inputs"] for n in job.body.values() if n["class_type"] == "LoraLoader"]
    assert [x["lora_name"] for x in loras] == ["mara_v1.safetensors"]
    assert "data:image" not in str(job.body)


def test_engine_without_image_support_gets_none_and_notes_say_so(bible):
    p, _ = bible
    vault = p.vault()
    req = build_request(p, "01", SHOT)
    cond = shot_conditioning(p, req.spec, get_engine("local"), vault=vault)
    assert cond.references == [] and cond.lora == []
    assert any("local takes no reference images" in n for n in cond.notes)
    assert any("local loads no LoRAs" in n for n in cond.notes)
    # nothing to add: the request (and so what was paid for) is unchanged
    out = apply_conditioning(req, cond)
    assert out.request_hash("local") == req.request_hash("local")


def test_continuity_sends_the_previous_shots_last_frame_first(bible, keys):
    import av

    p, images = bible
    vault = p.vault()
    clip = vault.put_bytes(tiny_mp4(1.0))
    with av.open(str(vault.get(clip))) as box:
        *_, last = box.decode(video=0)
        want = last.to_ndarray(format="rgb24")
    sb = p.storyboard("01")
    shot = sb.shot(SHOT).model_copy(update={"continue_from_previous": True})
    req = build_request(p, "01", SHOT)
    req = req.model_copy(update={"spec": req.spec.model_copy(update={"shot": shot})})
    for name, n_images in (("runway", 1), ("replicate", 4)):
        cond = shot_conditioning(p, req.spec, get_engine(name), vault=vault,
                                 previous_clip=clip)
        assert cond.continues and cond.references[0] == last_frame(vault, clip)
        job = _generate(name, apply_conditioning(req, cond), vault)
        sent = _sent_images(name, job)
        assert len(sent) == n_images
        frame = np.asarray(Image.open(__import__("io").BytesIO(sent[0])).convert("RGB"))
        assert np.array_equal(frame, want)  # the clip's very last frame, losslessly
        if name == "replicate":
            assert "start_image" in job.body["input"]
            assert sent[1] == images["characters/mara/front.png"]
    # no previous clip (first shot): said, nothing invented
    cond = shot_conditioning(p, req.spec, get_engine("runway"), vault=vault)
    assert not cond.continues and any("no previous shot" in n for n in cond.notes)


def test_reference_outside_the_series_folder_is_not_sent(bible, tmp_path):
    p, _ = bible
    outside = tmp_path / "secret.png"
    _png(outside, (1, 2, 3))
    (p.root / "characters" / "link.png").symlink_to(outside)
    p.characters["mara"] = p.characters["mara"].model_copy(update={"reference_images": [
        "/etc/passwd", "../secret.png", "characters/link.png", "characters/missing.png",
        "characters/mara.yaml"]})
    p.scenes["cliff_path"] = p.scenes["cliff_path"].model_copy(update={"reference_frame": None})
    req = build_request(p, "01", SHOT)
    cond = shot_conditioning(p, req.spec, get_engine("replicate"), vault=p.vault())
    assert cond.references == []
    text = "\n".join(cond.notes)
    assert text.count("outside the series folder") == 3
    assert "not found" in text and "not a PNG or JPEG" in text


def test_last_frame_is_cached_per_clip(sample_project):
    vault = sample_project.vault()
    clip = vault.put_bytes(tiny_mp4(1.0))
    a = last_frame(vault, clip)
    assert vault.lookup("last-frame", clip).outputs["image"] == a
    assert last_frame(vault, clip) == a
    assert vault.get(a).read_bytes().startswith(b"\x89PNG")


def test_conditioning_model_defaults():
    c = Conditioning()
    assert c.references == [] and c.lora == [] and c.notes == [] and not c.continues


def test_continuity_to_an_engine_without_images_decodes_nothing(bible):
    p, _ = bible
    vault = p.vault()
    clip = vault.put_bytes(tiny_mp4(1.0))
    shot = p.storyboard("01").shot(SHOT).model_copy(update={"continue_from_previous": True})
    req = build_request(p, "01", SHOT)
    spec = req.spec.model_copy(update={"shot": shot})
    cond = shot_conditioning(p, spec, get_engine("local"), vault=vault, previous_clip=clip)
    assert cond.references == [] and not cond.continues
    assert any("local takes no reference images: 4 left out" in n for n in cond.notes)
    assert vault.lookup("last-frame", clip) is None
