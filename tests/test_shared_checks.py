"""The checks several modules share: "is this a vault digest" (store.hashing) and the
StudioErrors an OpenAI-compatible endpoint's failures become (engines.openai_compat), each
worded by its caller (the VLM scorer, the Project Builder's LLM)."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from studio_kit.engines import openai_compat
from studio_kit.errors import EngineOperationalError, EngineUserError
from studio_kit.store.hashing import DIGEST_IN_TEXT_RE, is_digest, stable_hash

DIGEST = stable_hash("a shot")


def test_is_digest_is_64_lower_case_hex_and_nothing_else() -> None:
    assert is_digest(DIGEST)
    for not_one in ("", DIGEST[:63], DIGEST + "0", DIGEST.upper(), DIGEST + "\n",
                    " " + DIGEST, DIGEST[:63] + "g", f"shots/{DIGEST}"):
        assert not is_digest(not_one), not_one


def test_digests_in_text_are_whole_words() -> None:
    other = stable_hash("another shot")
    text = json.dumps({"clip": f".studio/vault/objects/{DIGEST[:2]}/{DIGEST}",
                       "meta": {"inputs": [other]}, "longer": "0" * 65,
                       "glued": f"x{stable_hash('glued')}", "upper": DIGEST.upper()})
    assert DIGEST_IN_TEXT_RE.findall(text) == [DIGEST, other]


REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(code: int) -> openai.APIStatusError:
    response = httpx2.Response(code, request=REQUEST, json={"error": "sk-echoed-secret"})
    return openai.APIStatusError("sk-echoed-secret", response=response, body=None)


def raised(exc: BaseException, **wording):
    with pytest.raises(Exception) as info, openai_compat.studio_errors(**wording):
        raise exc
    return info.value


def said(err) -> tuple[str, str | None, str | None]:
    (problem,) = err.problems
    return problem.message, problem.field, problem.hint


VLM = {"what": "vision-language endpoint", "url_field": "STUDIO_VLM_BASE_URL",
       "unreachable_hint": "start the server", "key_field": "STUDIO_VLM_API_KEY",
       "status_hint": "check STUDIO_VLM_MODEL"}
LLM = {"what": "LLM endpoint", "unreachable_hint": "check STUDIO_LLM_BASE_URL",
       "status_hint": "check STUDIO_LLM_MODEL and STUDIO_LLM_API_KEY"}


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_key_names_the_key_setting_only_when_the_caller_has_one(code) -> None:
    vlm = raised(status_error(code), **VLM)
    assert type(vlm) is EngineUserError
    assert said(vlm) == ("vision-language endpoint refused the key", "STUDIO_VLM_API_KEY",
                         "check the key in the environment")
    llm = raised(status_error(code), **LLM)
    assert type(llm) is EngineUserError
    assert said(llm) == (f"LLM endpoint answered HTTP {code}", None,
                         "check STUDIO_LLM_MODEL and STUDIO_LLM_API_KEY")


@pytest.mark.parametrize(("code", "kind"), [(400, EngineUserError), (422, EngineUserError),
                                            (429, EngineOperationalError),
                                            (503, EngineOperationalError)])
def test_an_http_status_is_said_with_the_callers_hint(code, kind) -> None:
    err = raised(status_error(code), **VLM)
    assert type(err) is kind
    assert said(err) == (f"vision-language endpoint answered HTTP {code}", None,
                         "check STUDIO_VLM_MODEL")
    assert "sk-echoed-secret" not in str(err) and err.__cause__ is None


def test_an_unreachable_endpoint_names_the_cause_and_the_url_setting() -> None:
    exc = openai.APITimeoutError(request=REQUEST)
    exc.__cause__ = httpx2.ReadTimeout("timed out")
    err = raised(exc, **VLM)
    assert type(err) is EngineOperationalError
    assert said(err) == ("vision-language endpoint unreachable: ReadTimeout",
                         "STUDIO_VLM_BASE_URL", "start the server")
    err = raised(openai.APIConnectionError(request=REQUEST), **LLM)
    assert said(err) == ("LLM endpoint unreachable: APIConnectionError", None,
                         "check STUDIO_LLM_BASE_URL")


def test_other_failures_pass_through() -> None:
    malformed = openai_compat.MalformedChat("the reply has no choices[0].message")
    assert raised(malformed, **VLM) is malformed
    with openai_compat.studio_errors(**LLM):
        pass
