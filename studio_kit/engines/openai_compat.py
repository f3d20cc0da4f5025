"""OpenAI-compatible chat completions (the VLM scorer, the Project Builder's LLM) through the
``openai`` SDK pointed at a configured base URL.

Both conventions are common in settings (``http://host:8000`` and, as the OpenAI clients
write it, ``http://host:8000/v1``); the VLM scorer and the Project Builder's LLM accept
either, so one setting works for both (``sdk_base_url``).

The SDK does the HTTP: the request, the Bearer key, and the retries (``max_retries``: 5xx,
408, 409, 429 with ``Retry-After`` honoured, timeouts and dropped connections, with its own
exponential backoff; never 400/401/403/404/422). What it is *not* allowed to do is read
anything from the environment itself: the key is the caller's (``STUDIO_VLM_API_KEY``,
``STUDIO_LLM_API_KEY``), passed explicitly, so ``OPENAI_API_KEY``, ``OPENAI_ADMIN_KEY``,
``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID`` and ``OPENAI_BASE_URL`` are never sent to a
third-party server; with no key no ``Authorization`` header is sent at all (local servers).

``chat_content`` raises the SDK's own exceptions (``openai.APIStatusError`` with
``status_code``, ``openai.APIConnectionError``/``APITimeoutError``) or ``MalformedChat``;
``studio_errors`` turns the SDK's into StudioErrors worded by the caller (which endpoint,
which setting to fix; ``user_or_operational`` picks the kind). The messages name the
exception's type and the HTTP status only, never the request, its headers or the reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: the SDK's default: two retries after the first attempt
DEFAULT_MAX_RETRIES = 2


class MalformedChat(ValueError):
    """The server answered 2xx with something that is not a chat completion."""


def chat_completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


def sdk_base_url(base_url: str) -> str:
    """The base URL the SDK appends ``/chat/completions`` to (always ending in ``/v1``)."""
    return chat_completions_url(base_url).removesuffix("/chat/completions")


def client(base_url: str, *, api_key: str | None, timeout_s: float,
           max_retries: int = DEFAULT_MAX_RETRIES, transport: Any = None):
    """An ``openai.OpenAI`` for ``base_url``; ``transport`` (an ``httpx2`` transport, e.g.
    ``httpx2.MockTransport`` in tests) replaces the network."""
    import openai

    # The installed SDK speaks HTTP through httpx2 (its maintained httpx successor);
    # DefaultHttpxClient is its httpx2.Client with the SDK's limits and redirects.
    http_client = openai.DefaultHttpxClient(timeout=timeout_s,
                                            **({"transport": transport} if transport else {}))
    # Every credential is explicit ("" = none) so the SDK reads none from the environment.
    return openai.OpenAI(base_url=sdk_base_url(base_url), api_key=api_key or "",
                         admin_api_key="", organization="", project="", webhook_secret="",
                         timeout=timeout_s, max_retries=max_retries, http_client=http_client)


def chat_content(base_url: str, *, model: str, messages: list[dict[str, Any]],
                 api_key: str | None = None, timeout_s: float = 60.0,
                 max_retries: int = DEFAULT_MAX_RETRIES, transport: Any = None,
                 **params: Any) -> str:
    """The first choice's message content of one chat completion (``params``: temperature,
    response_format, ...)."""
    import openai

    # no key: no Authorization header; organisation/project headers are never sent
    omitted = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
    if not api_key:
        omitted["Authorization"] = openai.Omit()
    with client(base_url, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries,
                transport=transport) as sdk:
        completion = sdk.chat.completions.create(model=model, messages=messages,  # type: ignore[arg-type]
                                                 extra_headers=omitted, **params)
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise MalformedChat("the reply has no choices[0].message") from None
    if not isinstance(content, str):
        raise MalformedChat("the reply's choices[0].message has no text content")
    return content


def user_or_operational(exc: BaseException) -> type:
    """``EngineUserError`` for a 4xx other than 408/429 (fix the request, the model name or
    the key), else ``EngineOperationalError`` (5xx, 408/429, timeouts, unreachable: already
    retried by the SDK)."""
    from ..errors import EngineOperationalError, EngineUserError

    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
        return EngineUserError
    return EngineOperationalError


@contextmanager
def studio_errors(what: str, *, unreachable_hint: str, status_hint: str,
                  url_field: str | None = None, key_field: str | None = None,
                  key_hint: str = "check the key in the environment") -> Iterator[None]:
    """Raise the SDK's failures inside the block as ``EngineUserError`` or
    ``EngineOperationalError`` (``user_or_operational``) about ``what`` (e.g. "LLM
    endpoint"): "<what> unreachable: <exception type>" (``url_field``, ``unreachable_hint``)
    after the SDK's retries, "<what> answered HTTP <status>" (``status_hint``), and, when
    ``key_field`` is given, "<what> refused the key" for 401/403 (``key_field``,
    ``key_hint``). ``MalformedChat`` and anything else pass through."""
    import openai

    try:
        yield
    except openai.APIConnectionError as exc:  # (APITimeoutError included), after retries
        raise user_or_operational(exc)(
            f"{what} unreachable: {type(exc.__cause__ or exc).__name__}",
            field=url_field, hint=unreachable_hint) from None
    except openai.APIStatusError as exc:
        kind = user_or_operational(exc)
        if key_field is not None and exc.status_code in (401, 403):
            raise kind(f"{what} refused the key", field=key_field, hint=key_hint) from None
        raise kind(f"{what} answered HTTP {exc.status_code}", hint=status_hint) from None
