"""Every ``STUDIO_*`` environment variable the studio reads, in one pydantic-settings model.

``settings()`` reads the environment at each call: a test's ``monkeypatch.setenv`` or a
CLI option that sets a variable is seen by the next call. The model built for one set of
``STUDIO_*`` values is kept and reused while those values stay the same (building one
costs ~3 ms; finding the values ~20 us), so there is nothing to reset. A value that does not
parse is a :class:`~studio_kit.errors.StudioError` naming the variable, the value it got
and what it expects. Secrets (tokens, API keys) are :class:`pydantic.SecretStr`: their
``repr`` and ``str`` show ``**********``, and ``studio settings`` shows only whether they
are set; read one with ``.get_secret_value()`` right where it is sent, never log it
(``studio_kit.secrets.redact`` removes their values from any text that leaves the
process).

Two families have a variable per name and are documented in docs/configuration.md
rather than here: ``STUDIO_ENGINE_<NAME>_URL`` (one engine's base URL, read by
``engines/adapters/http.py``) and the variable a publish target names in its
``token_env`` (``STUDIO_UPLOAD_TOKEN`` by default). ``STUDIO_CORPUS`` is a bench-only
variable (``bench/import_bench.py``).

docs/configuration.md's table is checked against this model by tests/test_settings.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import StudioError

PREFIX = "STUDIO_"
#: True while a model is built from a given mapping (the process environment is not read)
_MAPPING_ONLY: ContextVar[bool] = ContextVar("studio_settings_mapping_only", default=False)


class StudioSettings(BaseSettings):
    """The studio's configuration from the environment (``STUDIO_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore",
                                      env_ignore_empty=True, validate_default=True,
                                      frozen=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment only (no .env or secrets files: the studio reads neither)
        return (init_settings,) if _MAPPING_ONLY.get() else (init_settings, env_settings)

    # -- projects and surfaces -----------------------------------------------------------
    project: Path | None = Field(None, description=(
        "The series folder a surface opens (set by `studio serve`; default: the sample "
        "series)."))
    projects_dir: Path = Field(Path("projects"), description=(
        "Where the Project Builder creates new series folders (`studio serve` sets it to "
        "the served project's parent)."))
    templates: Path | None = Field(None, description=(
        "A folder of Project Builder templates replacing the packaged ones."))
    asset_roots: str = Field("", description=(
        "Extra folders (separated by the OS path separator, ':' on Linux) a project's "
        "asset paths may point into, besides the project folder."))
    notebooks: Path | None = Field(None, description=(
        "The notebooks folder the Command Center's run launcher executes (default: the "
        "packaged notebooks)."))
    edit_render: str | None = Field(None, description=(
        "JSON of the render options the Edit Suite re-renders with (set by tests and "
        "benches; default: the pipeline's defaults)."))
    feature_root: Path | None = Field(None, description=(
        "The folder holding the series folders and features/ the Feature Bay notebook "
        "opens (default: the one above STUDIO_PROJECT)."))
    # -- `studio serve` ---------------------------------------------------------------------
    token: SecretStr | None = Field(None, description=(
        "The token `studio serve` asks for (default: a random one per run). Secret."))
    voila_token: SecretStr | None = Field(None, description=(
        "Internal: the token handed from `studio serve` to its Voila server process; "
        "removed before any kernel starts. Secret."))
    # -- generation engines -------------------------------------------------------------
    engine_url: str | None = Field(None, description=(
        "Base URL for every HTTP engine without its own STUDIO_ENGINE_<NAME>_URL."))
    engine_poll_s: float = Field(2.0, gt=0, description=(
        "First poll interval of a remote generation job, in seconds."))
    engine_max_poll_s: float = Field(15.0, gt=0, description=(
        "Longest poll interval (the interval backs off up to it), in seconds."))
    engine_timeout_s: float = Field(1800.0, gt=0, description=(
        "How long a remote generation job may run before it is given up, in seconds."))
    engine_max_download: int = Field(512 * 1024 * 1024, gt=0, description=(
        "Largest generated file downloaded from an engine, in bytes."))
    allow_insecure_http: bool = Field(False, description=(
        "1/true/yes: allow plain http engine URLs to hosts other than loopback (the key "
        "then travels in clear)."))
    lease_wait_s: float = Field(600.0, ge=0, description=(
        "How long a render waits for another process's lease on the same paid shot "
        "before it gives up, in seconds."))
    # -- LLM / VLM endpoints (OpenAI-compatible) ------------------------------------------
    llm_base_url: str | None = Field(None, description=(
        "OpenAI-compatible endpoint the Project Builder asks for ideas and outlines."))
    llm_api_key: SecretStr | None = Field(None, description=(
        "Key for STUDIO_LLM_BASE_URL. Secret."))
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to STUDIO_LLM_BASE_URL.")
    vlm_base_url: str | None = Field(None, description=(
        "OpenAI-compatible vision endpoint of the VLM QC scorer (unset: the VLM check is "
        "skipped)."))
    vlm_api_key: SecretStr | None = Field(None, description=(
        "Key for STUDIO_VLM_BASE_URL. Secret."))
    vlm_model: str = Field("local-vlm", description="Model name sent to STUDIO_VLM_BASE_URL.")
    qc_embedding_model: Path | None = Field(None, description=(
        "An image -> vector ONNX model (needs onnxruntime) for the learned-embedding "
        "identity QC scorer (unset, and no embedder registered: that scorer is skipped)."))
    # -- storage --------------------------------------------------------------------------
    vault_url: str | None = Field(None, description=(
        "An fsspec URL (e.g. s3://bucket/prefix) holding the project's vault instead of "
        "its local folder; credentials come from the storage's own variables."))
    # -- provenance (C2PA) ------------------------------------------------------------
    c2pa_cert: Path | None = Field(None, description=(
        "PEM certificate chain (signer first) C2PA manifests are signed with (unset: a "
        "development CA under the project)."))
    c2pa_key: Path | None = Field(None, description=(
        "PEM private key of STUDIO_C2PA_CERT (a path, not the key itself)."))
    c2pa_alg: str = Field("es256", description=(
        "C2PA signing algorithm: es256, es384, es512, ps256, ps384, ps512 or ed25519."))
    c2pa_tsa_url: str | None = Field(None, description=(
        "RFC 3161 time-stamp authority used when signing (unset: no time stamp)."))
    # -- distribution ---------------------------------------------------------------------
    upload_token: SecretStr | None = Field(None, description=(
        "Bearer token of the default publish target (a target may name another variable "
        "in its token_env). Secret."))


def reveal(secret: SecretStr | None) -> str | None:
    """The value of a secret setting, for the one place that sends it (None if unset)."""
    return secret.get_secret_value() if secret is not None else None


def env_name(field: str) -> str:
    """``"lease_wait_s"`` -> ``"STUDIO_LEASE_WAIT_S"``."""
    return PREFIX + field.upper()


def variables() -> dict[str, str]:
    """Every variable of the model -> its description (for docs and ``studio settings``)."""
    return {env_name(n): f.description or "" for n, f in StudioSettings.model_fields.items()}


def markdown_table() -> str:
    """The table of docs/configuration.md: variable, default, what it does."""
    rows = ["| Variable | Default | What it sets |", "|---|---|---|"]
    for n, f in StudioSettings.model_fields.items():
        default = "unset" if f.default in (None, "") else f"`{f.default}`"
        rows.append(f"| `{env_name(n)}` | {default} | {f.description} |")
    return "\n".join(rows) + "\n"


def secret_fields() -> list[str]:
    """The variables holding a secret (SecretStr fields)."""
    return [env_name(n) for n, f in StudioSettings.model_fields.items()
            if "SecretStr" in str(f.annotation)]


#: models built, by their STUDIO_* values (a handful per process: tests change them)
_BUILT: dict[tuple[tuple[str, str], ...], StudioSettings] = {}


def _studio_items(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in env.items() if k.upper().startswith(PREFIX)))


def settings(environ: Mapping[str, str] | None = None) -> StudioSettings:
    """The configuration from the environment now (or from ``environ`` alone, e.g. a child
    process's environment), validated; a bad value is a StudioError naming its variable."""
    env = os.environ if environ is None else environ
    key = (("", "mapping") if environ is not None else ("", "os"),) + _studio_items(env)
    built = _BUILT.get(key)
    if built is not None:
        return built
    try:
        if environ is None:
            built = StudioSettings()
        else:
            values = {n: environ[env_name(n)] for n in StudioSettings.model_fields
                      if environ.get(env_name(n))}  # empty = unset, as for os.environ
            token = _MAPPING_ONLY.set(True)
            try:
                built = StudioSettings(**values)
            finally:
                _MAPPING_ONLY.reset(token)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "?"
        name = env_name(field)
        value = {k.upper(): v for k, v in env.items()}.get(name, "")
        shown = "(hidden: a secret)" if name in secret_fields() else repr(value)
        info = StudioSettings.model_fields.get(field)
        raise StudioError(
            f"{name}={shown} is not valid: {err['msg']}", field=name,
            hint=(f"{name}: {info.description} Fix or unset it." if info else
                  f"fix or unset {name}")) from None
    if len(_BUILT) > 64:
        _BUILT.clear()
    _BUILT[key] = built
    return built
