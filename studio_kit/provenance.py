"""C2PA provenance: signed manifests on generated shots and on the episode master.

Every generated shot is signed as ``c2pa.created`` with the IPTC digital source type
``trainedAlgorithmicMedia``, naming the engine and model, the prompt hash, the seed and the
bible version. The episode master is signed with the shots as ``componentOf`` ingredients
and the edit actions (``c2pa.placed`` per shot, ``c2pa.edited`` for grading and
transitions, ``c2pa.transcoded`` ...). ``verify`` reads a file back with c2pa-python's
Reader and writes a verification report (JSON) beside it.

Credentials come from configuration: ``STUDIO_C2PA_CERT`` (PEM chain, signer first),
``STUDIO_C2PA_KEY`` (PEM private key), ``STUDIO_C2PA_ALG`` (default es256) and optionally
``STUDIO_C2PA_TSA_URL``. Without them a *development* CA and signer are generated under
``<project>/.studio/c2pa/`` and every report says the signer is untrusted. Key material is
never copied into manifests, reports, logs or the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import StudioError
from .settings import settings
from .store.hashing import file_hash
from .store.yamlio import FILE_MODE, atomic_write_bytes, atomic_write_text

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED = IPTC + "compositeWithTrainedAlgorithmicMedia"
GENERATOR = "studio_kit"
STUDIO_ASSERTION = "org.studio-kit.generation"
DEV_CA_NAME = "studio_kit development CA (untrusted)"
DEV_ORG = "studio_kit development"
#: Status codes that only say the signer is not on a trust list: expected for a dev CA.
TRUST_CODES = {"signingCredential.untrusted"}
_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
         ".wav": "audio/wav", ".m4a": "audio/mp4", ".png": "image/png", ".jpg": "image/jpeg"}
_ALGS = {"es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"}


class ProvenanceError(StudioError):
    """Signing or reading C2PA manifests failed (bad credentials, unsupported file)."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("studio-kit")
    except Exception:  # not installed (running from a source tree)
        return "0.0.0"


def mime_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _MIME:
        raise ProvenanceError(f"cannot sign {suffix or 'extension-less'} files", file=path,
                              hint=f"supported: {', '.join(sorted(_MIME))}")
    return _MIME[suffix]


# -- credentials ---------------------------------------------------------------------------
class C2paCredentials(BaseModel):
    """Where the signing chain and key are; never the key itself."""

    cert_chain: Path = Field(description="PEM: signer certificate first, then intermediates.")
    private_key: Path
    alg: str = "es256"
    tsa_url: str | None = None
    development: bool = Field(False, description="A locally generated CA: untrusted.")

    def signer(self):
        import c2pa

        for p in (self.cert_chain, self.private_key):
            if not p.is_file():
                raise ProvenanceError("C2PA credential file not found", file=p,
                                      hint="set STUDIO_C2PA_CERT and STUDIO_C2PA_KEY to PEM "
                                      "files, or unset both to use a development CA")
        if self.alg.lower() not in _ALGS:
            raise ProvenanceError(f"unknown C2PA signing algorithm {self.alg!r}",
                                  field="STUDIO_C2PA_ALG", hint=f"use one of {sorted(_ALGS)}")
        info = c2pa.C2paSignerInfo(
            alg=self.alg.lower().encode(), sign_cert=self.cert_chain.read_bytes(),
            private_key=self.private_key.read_bytes(),
            ta_url=self.tsa_url.encode() if self.tsa_url else None)
        try:
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"the C2PA signer cannot be created: {exc}",
                                  file=self.cert_chain,
                                  hint="the chain must be PEM (signer first) and the key "
                                  f"must match it and the algorithm {self.alg}") from None


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORG)])


def _key_usage(**on: bool):
    from cryptography import x509

    names = ["digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
             "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def create_dev_credentials(directory: str | Path, *, days: int = 825) -> C2paCredentials:
    """Generate an EC P-256 development CA and an ES256 signing certificate.

    The leaf has what C2PA requires of a signer: BasicConstraints ca=False, KeyUsage
    digitalSignature, an ExtendedKeyUsage (emailProtection), SKI and AKI. Readers report it
    as ``signingCredential.untrusted`` - correct for a private CA; users bring their own.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(DEV_CA_NAME)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=days + 365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("studio_kit development signer"))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    atomic_write_bytes(directory / "dev-ca.pem", ca.public_bytes(pem))
    atomic_write_bytes(directory / "dev-chain.pem", chain)
    key_path = directory / "dev-signer.key"
    atomic_write_bytes(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()), private=True)
    # The CA key is not kept: nothing else is ever signed with this CA.
    return C2paCredentials(cert_chain=directory / "dev-chain.pem", private_key=key_path,
                           alg="es256", development=True)


def _dev_chain_valid(chain: Path) -> bool:
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    except (OSError, ValueError):
        return False
    return leaf.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def load_credentials(project_root: str | Path | None = None, *,
                     env: dict[str, str] | None = None) -> C2paCredentials:
    """Credentials from the environment, else the project's development CA (made on demand)."""
    conf = settings(env)  # the process environment, or ``env`` alone
    cert, key = conf.c2pa_cert, conf.c2pa_key
    if cert or key:
        if not (cert and key):
            raise ProvenanceError("only one of STUDIO_C2PA_CERT / STUDIO_C2PA_KEY is set",
                                  field="STUDIO_C2PA_KEY" if cert else "STUDIO_C2PA_CERT",
                                  hint="set both (PEM chain and PEM key) or neither")
        for name, value in (("STUDIO_C2PA_CERT", cert), ("STUDIO_C2PA_KEY", key)):
            if not Path(value).is_file():  # checked here: stages hash the files first
                raise ProvenanceError("C2PA credential file not found", file=Path(value),
                                      field=name, hint="set STUDIO_C2PA_CERT and "
                                      "STUDIO_C2PA_KEY to PEM files, or unset both to use a "
                                      "development CA")
        return C2paCredentials(cert_chain=Path(cert), private_key=Path(key),
                               alg=conf.c2pa_alg, tsa_url=conf.c2pa_tsa_url)
    base = Path(project_root) if project_root is not None else Path.cwd()
    folder = base / ".studio" / "c2pa"
    chain, key_path = folder / "dev-chain.pem", folder / "dev-signer.key"
    if chain.is_file() and key_path.is_file() and _dev_chain_valid(chain):
        return C2paCredentials(cert_chain=chain, private_key=key_path, development=True)
    return create_dev_credentials(folder)


# -- manifests -------------------------------------------------------------------------
class ShotProvenance(BaseModel):
    """What a generated shot's manifest records."""

    episode: str
    shot_id: str
    engine: str
    model: str = ""
    prompt_hash: str
    seed: int
    bible_version: str
    request_hash: str = ""
    series: str = ""


class EditAction(BaseModel):
    """One edit applied to make the master, as a C2PA action."""

    action: str = Field(description="c2pa.edited, c2pa.placed, c2pa.transcoded, ...")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class MasterIngredient(BaseModel):
    shot_id: str
    path: Path
    format: str | None = Field(None, description="MIME type (default: from the suffix).")

    @property
    def mime(self) -> str:
        return self.format or mime_for(self.path)


def _claim_generator() -> list[dict[str, str]]:
    return [{"name": GENERATOR, "version": _version()}]


def shot_manifest(info: ShotProvenance, title: str) -> dict[str, Any]:
    agent = {"name": info.engine, **({"version": info.model} if info.model else {})}
    return {
        "claim_generator_info": _claim_generator(),
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": agent,
                "description": f"shot {info.shot_id} of episode {info.episode} generated "
                               f"by {info.engine}" + (f" ({info.model})" if info.model else ""),
                "parameters": {"seed": info.seed, "prompt_hash": info.prompt_hash},
            }]}},
            {"label": STUDIO_ASSERTION, "data": info.model_dump(mode="json")},
        ],
    }


def master_manifest(title: str, ingredients: list[MasterIngredient],
                    actions: list[EditAction], extra: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    acts: list[dict[str, Any]] = [{
        "action": "c2pa.created", "digitalSourceType": COMPOSITE_WITH_TRAINED,
        "softwareAgent": {"name": GENERATOR, "version": _version()},
        "description": "episode master assembled from generated shots",
    }]
    for ing in ingredients:
        acts.append({"action": "c2pa.placed", "description": f"shot {ing.shot_id}",
                     "parameters": {"ingredientIds": [_ingredient_label(ing.shot_id)]}})
    for a in actions:
        entry: dict[str, Any] = {"action": a.action}
        if a.description:
            entry["description"] = a.description
        if a.parameters:
            entry["parameters"] = a.parameters
        acts.append(entry)
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions.v2",
                                         "data": {"actions": acts}}]
    if extra:
        assertions.append({"label": "org.studio-kit.episode", "data": extra})
    return {"claim_generator_info": _claim_generator(), "title": title,
            "assertions": assertions}


def _ingredient_label(shot_id: str) -> str:
    return f"shot-{shot_id}"


def _sign(manifest: dict[str, Any], src: Path, dst: Path, creds: C2paCredentials,
          ingredients: list[MasterIngredient] = (), parent: Path | None = None,
          mime: str | None = None) -> None:
    import c2pa

    src, dst = Path(src), Path(dst)
    mime = mime or mime_for(dst)
    signer = creds.signer()
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with c2pa.Builder(manifest) as builder:
            for ing in ingredients:
                with open(ing.path, "rb") as fh:
                    builder.add_ingredient(
                        {"title": f"{ing.shot_id}.{ing.mime.split('/')[-1]}",
                         "relationship": "componentOf",
                         "label": _ingredient_label(ing.shot_id)},
                        ing.mime, fh)
            if parent is not None:
                with open(parent, "rb") as fh:
                    builder.add_ingredient({"title": parent.name, "relationship": "parentOf",
                                            "label": "parent"}, mime_for(parent), fh)
            with open(src, "rb") as s, open(tmp, "w+b") as d:
                builder.sign(signer, mime, s, d)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; give a normal file's mode
        os.replace(tmp, dst)
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"C2PA signing failed: {exc}", file=src,
                              hint="check the credentials and that the file is a valid "
                              f"{mime}") from None
    finally:
        signer.close()
        if tmp.exists():
            tmp.unlink()


def sign_shot(src: str | Path, dst: str | Path, info: ShotProvenance,
              creds: C2paCredentials) -> Path:
    """Write ``dst``: ``src`` with a signed 'created by <engine>' manifest embedded."""
    dst = Path(dst)
    _sign(shot_manifest(info, dst.name), Path(src), dst, creds)
    return dst


def sign_master(src: str | Path, dst: str | Path, *, ingredients: list[MasterIngredient],
                actions: list[EditAction], creds: C2paCredentials,
                extra: dict[str, Any] | None = None) -> Path:
    """Write ``dst``: the master with a manifest listing the shots and the edit actions.

    ``src`` and ``dst`` may be the same path (signed in place, atomically).
    """
    dst = Path(dst)
    _sign(master_manifest(dst.name, ingredients, actions, extra), Path(src), dst, creds,
          ingredients)
    return dst


def sign_derivative(src: str | Path, dst: str | Path, *, parent: str | Path,
                    action: EditAction, creds: C2paCredentials) -> Path:
    """Write ``dst``: a rendition of the signed ``parent`` (e.g. the ProRes master made
    from the MP4 master), with ``parent`` as its parentOf ingredient."""
    dst, parent = Path(dst), Path(parent)
    entry: dict[str, Any] = {"action": action.action}
    if action.description:
        entry["description"] = action.description
    manifest = {
        "claim_generator_info": _claim_generator(), "title": dst.name,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
            {**entry, "parameters": {**action.parameters}} if action.parameters else entry,
        ]}}],
    }
    _sign(manifest, Path(src), dst, creds, parent=parent)
    return dst


# -- verification --------------------------------------------------------------------------
class StatusEntry(BaseModel):
    code: str
    explanation: str = ""
    url: str = ""


class IngredientReport(BaseModel):
    title: str
    relationship: str = ""
    has_manifest: bool = False
    digital_source_type: str | None = None
    engine: str | None = None
    failures: list[str] = Field(default_factory=list)


class VerificationReport(BaseModel):
    file: str
    sha256: str
    format: str
    has_manifest: bool
    active_manifest: str | None = None
    validation_state: str | None = Field(None, description="Reader state: Invalid/Valid/Trusted")
    signer: dict[str, str] = Field(default_factory=dict)
    trusted: bool = False
    development_credentials: bool = False
    trust_note: str = ""
    valid_apart_from_trust: bool = False
    failures: list[StatusEntry] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    digital_source_types: list[str] = Field(default_factory=list)
    assertions: list[str] = Field(default_factory=list)
    ingredients: list[IngredientReport] = Field(default_factory=list)
    checked_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    @property
    def ok(self) -> bool:
        return self.valid_apart_from_trust


def read_manifest_store(path: str | Path) -> dict[str, Any] | None:
    """The file's manifest store as JSON (None when the file carries no manifest)."""
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise ProvenanceError("file not found", file=path, hint="check the path")
    try:
        with c2pa.Reader(mime_for(path), open(path, "rb")) as reader:
            return json.loads(reader.json())
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc) \
                or "ManifestNotFound" in str(exc):
            return None
        raise ProvenanceError(f"cannot read C2PA data: {exc}", file=path) from None


def _failures(results: dict[str, Any] | None, flat: list[dict[str, Any]]) -> list[StatusEntry]:
    entries = []
    if results and "activeManifest" in results:
        entries = results["activeManifest"].get("failure", [])
    elif flat:
        entries = flat
    return [StatusEntry(code=e.get("code", ""), explanation=e.get("explanation", ""),
                        url=e.get("url", "")) for e in entries]


def _actions(manifest: dict[str, Any]) -> tuple[list[str], list[str], dict[str, Any]]:
    names, sources, generation = [], [], {}
    for a in manifest.get("assertions", []):
        label = a.get("label", "")
        if label.startswith("c2pa.actions"):
            for act in a.get("data", {}).get("actions", []):
                names.append(act.get("action", ""))
                if act.get("digitalSourceType"):
                    sources.append(act["digitalSourceType"])
        elif label == STUDIO_ASSERTION:
            generation = a.get("data", {})
    return names, sources, generation


def verify(path: str | Path, *, development: bool | None = None) -> VerificationReport:
    """Read ``path`` back and report what its manifest says and whether it validates.

    ``valid_apart_from_trust`` is True when the only failures are trust-list ones
    (``signingCredential.untrusted``), i.e. signature, hashes and ingredients check out.
    """
    path = Path(path)
    store = read_manifest_store(path)
    report = VerificationReport(file=path.name, sha256=file_hash(path), format=mime_for(path),
                                has_manifest=store is not None)
    if store is None:
        report.trust_note = "no C2PA manifest in this file"
        return report
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {})
    report.active_manifest = label
    report.validation_state = store.get("validation_state")
    sig = manifest.get("signature_info", {})
    report.signer = {k: str(sig[k]) for k in ("issuer", "common_name", "alg", "time")
                     if k in sig}
    report.failures = _failures(store.get("validation_results"),
                                store.get("validation_status", []))
    codes = {f.code for f in report.failures}
    report.trusted = not (codes & TRUST_CODES) and report.validation_state == "Trusted"
    is_dev = development if development is not None else sig.get("issuer") == DEV_ORG
    report.development_credentials = bool(is_dev)
    report.valid_apart_from_trust = not (codes - TRUST_CODES)
    if report.development_credentials:
        report.trust_note = ("signed with a locally generated development CA: the signature "
                             "and hashes validate but the signer is UNTRUSTED; set "
                             "STUDIO_C2PA_CERT / STUDIO_C2PA_KEY to sign with real credentials")
    elif not report.trusted:
        report.trust_note = ("the signer's CA is not on this reader's trust list; "
                             "configure trust anchors to establish trust")
    else:
        report.trust_note = "signer trusted"
    report.actions, report.digital_source_types, _ = _actions(manifest)
    report.assertions = [a.get("label", "") for a in manifest.get("assertions", [])]
    manifests = store.get("manifests", {})
    for ing in manifest.get("ingredients", []):
        ing_label = ing.get("active_manifest")
        ing_manifest = manifests.get(ing_label, {}) if ing_label else {}
        _, src, gen = _actions(ing_manifest)
        ing_fail = (ing.get("validation_results", {}).get("activeManifest", {})
                    .get("failure", []))
        failures = [f.get("code", "") for f in ing_fail]
        report.ingredients.append(IngredientReport(
            title=ing.get("title", ""), relationship=ing.get("relationship", ""),
            has_manifest=bool(ing_label), digital_source_type=src[0] if src else None,
            engine=gen.get("engine"), failures=failures))
        if set(failures) - TRUST_CODES:
            report.valid_apart_from_trust = False
    return report


def write_report(report: VerificationReport, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_text(path, report.model_dump_json(indent=2) + "\n")
    return path


def verify_and_report(path: str | Path) -> tuple[VerificationReport, Path]:
    """Verify ``path`` and write ``<name>.c2pa.json`` beside it."""
    path = Path(path)
    report = verify(path)
    return report, write_report(report, path.with_name(path.name + ".c2pa.json"))
