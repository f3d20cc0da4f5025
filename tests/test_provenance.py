"""C2PA provenance: sign real ffmpeg-made MP4s, read them back with c2pa's Reader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from studio_kit import provenance as pv


def _clip(path: Path, colour: str = "testsrc", seconds: float = 1.0) -> Path:
    src = "testsrc=size=160x90:rate=24" if colour == "testsrc" else \
        f"color=c={colour}:size=160x90:rate=24"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", f"{src}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def creds(tmp_path_factory) -> pv.C2paCredentials:
    root = tmp_path_factory.mktemp("proj")
    return pv.load_credentials(root, env={})


def _info(shot: str) -> pv.ShotProvenance:
    return pv.ShotProvenance(episode="01", shot_id=shot, engine="local", model="lamp-1",
                             prompt_hash="ab" * 32, seed=7, bible_version="b1b1",
                             series="Test")


def test_dev_credentials_have_c2pa_extensions(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    c = pv.load_credentials(tmp_path, env={})
    assert c.development and c.alg == "es256"
    assert c.private_key.stat().st_mode & 0o777 == 0o600
    leaf, ca = x509.load_pem_x509_certificates(c.cert_chain.read_bytes())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski and aki.value.key_identifier == ca_ski.value.key_identifier
    # reused, not regenerated, on the next call
    again = pv.load_credentials(tmp_path, env={})
    assert again.cert_chain.read_bytes() == c.cert_chain.read_bytes()


def test_shot_manifest_reads_back_and_validates(tmp_path: Path, creds) -> None:
    raw = _clip(tmp_path / "raw.mp4")
    signed = pv.sign_shot(raw, tmp_path / "s01.mp4", _info("s01"), creds)
    report = pv.verify(signed)
    assert report.has_manifest and report.valid_apart_from_trust
    assert not report.trusted and report.development_credentials
    assert "UNTRUSTED" in report.trust_note
    assert {f.code for f in report.failures} == {"signingCredential.untrusted"}
    assert report.actions == ["c2pa.created"]
    assert report.digital_source_types == [pv.TRAINED_ALGORITHMIC_MEDIA]
    store = pv.read_manifest_store(signed)
    manifest = store["manifests"][store["active_manifest"]]
    gen = next(a["data"] for a in manifest["assertions"] if a["label"] == pv.STUDIO_ASSERTION)
    assert gen["engine"] == "local" and gen["model"] == "lamp-1"
    assert gen["seed"] == 7 and gen["bible_version"] == "b1b1"
    assert gen["prompt_hash"] == "ab" * 32
    # the signed file still decodes as video + audio
    import av

    with av.open(str(signed)) as c:
        assert {s.type for s in c.streams} >= {"video", "audio"}


def test_master_lists_shots_as_ingredients_and_report_is_written(tmp_path: Path,
                                                                   creds) -> None:
    shots = []
    for sid, colour in (("s01", "red"), ("s02", "blue")):
        shots.append(pv.MasterIngredient(
            shot_id=sid, path=pv.sign_shot(_clip(tmp_path / f"{sid}.raw.mp4", colour),
                                           tmp_path / f"{sid}.mp4", _info(sid), creds)))
    master = _clip(tmp_path / "master.mp4", seconds=2.0)
    pv.sign_master(master, master, ingredients=shots, creds=creds, actions=[
        pv.EditAction(action="c2pa.edited", description="graded to scene looks"),
        pv.EditAction(action="c2pa.transcoded", description="H.264/AAC master")],
        extra={"episode": "01"})
    report, path = pv.verify_and_report(master)
    assert path.name == "master.mp4.c2pa.json"
    data = json.loads(path.read_text())
    assert data["valid_apart_from_trust"] is True and data["trusted"] is False
    assert data["actions"] == ["c2pa.created", "c2pa.placed", "c2pa.placed", "c2pa.edited",
                               "c2pa.transcoded"]
    assert [i["title"] for i in data["ingredients"]] == ["s01.mp4", "s02.mp4"]
    assert all(i["has_manifest"] and i["engine"] == "local" for i in data["ingredients"])
    assert all(i["digital_source_type"] == pv.TRAINED_ALGORITHMIC_MEDIA
               for i in data["ingredients"])
    text = path.read_text()
    assert "PRIVATE KEY" not in text and str(creds.private_key) not in text


def test_tampered_file_fails_validation(tmp_path: Path, creds) -> None:
    signed = pv.sign_shot(_clip(tmp_path / "raw.mp4"), tmp_path / "s.mp4", _info("s"), creds)
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    assert mdat > 0
    for i in range(mdat + 200, mdat + 260):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    report = pv.verify(bad)
    assert report.has_manifest and not report.valid_apart_from_trust
    assert any(f.code not in pv.TRUST_CODES for f in report.failures)


def test_unsigned_file_reports_no_manifest(tmp_path: Path) -> None:
    report = pv.verify(_clip(tmp_path / "plain.mp4"))
    assert not report.has_manifest and not report.ok


def test_credentials_from_environment(tmp_path: Path, creds) -> None:
    env = {"STUDIO_C2PA_CERT": str(creds.cert_chain), "STUDIO_C2PA_KEY": str(creds.private_key)}
    c = pv.load_credentials(tmp_path / "elsewhere", env=env)
    assert not c.development and c.cert_chain == creds.cert_chain
    assert not (tmp_path / "elsewhere" / ".studio").exists()
    with pytest.raises(pv.ProvenanceError, match="only one of"):
        pv.load_credentials(tmp_path, env={"STUDIO_C2PA_CERT": str(creds.cert_chain)})
    with pytest.raises(pv.ProvenanceError, match="not found") as err:  # before any stage
        pv.load_credentials(tmp_path, env={**env, "STUDIO_C2PA_KEY": str(tmp_path / "no.key")})
    assert err.value.problems[0].field == "STUDIO_C2PA_KEY"
    missing = pv.C2paCredentials(cert_chain=tmp_path / "nope.pem", private_key=tmp_path / "k")
    with pytest.raises(pv.ProvenanceError, match="not found"):
        pv.sign_shot(_clip(tmp_path / "c.mp4"), tmp_path / "d.mp4", _info("x"), missing)
    wrong_key = tmp_path / "wrong.key"
    other = pv.create_dev_credentials(tmp_path / "other")
    wrong_key.write_bytes(other.private_key.read_bytes())
    mismatched = pv.C2paCredentials(cert_chain=creds.cert_chain, private_key=wrong_key)
    with pytest.raises(pv.ProvenanceError):
        pv.sign_shot(_clip(tmp_path / "e.mp4"), tmp_path / "f.mp4", _info("x"), mismatched)


def test_prores_rendition_has_master_as_parent(tmp_path: Path, creds) -> None:
    master = _clip(tmp_path / "m.raw.mp4", "green")
    signed_master = pv.sign_master(master, tmp_path / "m.mp4", ingredients=[],
                                   actions=[pv.EditAction(action="c2pa.edited")], creds=creds)
    mov = tmp_path / "m.raw.mov"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(signed_master), "-c:v", "prores_ks", "-profile:v", "3",
                    "-c:a", "pcm_s16le", str(mov)], check=True)
    out = pv.sign_derivative(mov, tmp_path / "m.mov", parent=signed_master, creds=creds,
                             action=pv.EditAction(action="c2pa.transcoded",
                                                  description="ProRes 422 HQ"))
    report = pv.verify(out)
    assert report.format == "video/quicktime" and report.valid_apart_from_trust
    assert report.actions == ["c2pa.opened", "c2pa.transcoded"]
    assert report.ingredients[0].relationship == "parentOf"
    assert report.ingredients[0].has_manifest
