from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from memo.adapters.signing.whatsapp import MetaWebhookVerifier
from memo.application.errors import AuthenticationFailed

SECRET = b"app-secret-1"
NEW_SECRET = b"app-secret-2"
# Meta's bytes: non-ASCII escaped as \uXXXX and slashes as \/, exactly as sent.
BODY = (b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"text":'
        b'{"body":"Gr\\u00fc\\u00dfe aus K\\u00f6ln, https:\\/\\/example.com"}}]}}]}]}')


def _header(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


def _code(verifier: MetaWebhookVerifier, body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        verifier.verify(body, headers)
    return failure.value.code


def test_a_body_signed_with_the_app_secret_verifies() -> None:
    MetaWebhookVerifier([SECRET]).verify(BODY, _header(BODY))


def test_a_signature_made_with_another_secret_is_invalid() -> None:
    assert _code(MetaWebhookVerifier([SECRET]), BODY, _header(BODY, b"other")) == "INVALID_WHATSAPP_SIGNATURE"


def test_an_altered_body_is_invalid() -> None:
    assert _code(MetaWebhookVerifier([SECRET]), BODY + b" ", _header(BODY)) == "INVALID_WHATSAPP_SIGNATURE"


@pytest.mark.parametrize("headers", [{}, {"x-hub-signature-256": ""}])
def test_a_missing_signature_is_reported_as_missing(headers: dict[str, str]) -> None:
    assert _code(MetaWebhookVerifier([SECRET]), BODY, headers) == "MISSING_WHATSAPP_SIGNATURE"


def _malformed() -> list[str]:
    good = _header(BODY)["x-hub-signature-256"]
    hexpart = good.removeprefix("sha256=")
    return [
        good[:-1],  # sha256= + 63 characters
        good + "0",  # 65
        "sha256=" + hexpart.upper(),  # Meta writes lowercase; one spelling per signature
        "SHA256=" + hexpart,
        hexpart,  # no prefix
        "sha1=" + hexpart[:40],
        "sha256=" + "\u0661" * 64,  # Arabic-Indic digits: Unicode, not hex
        "sha256=" + hexpart[:-1] + "\u00e9",
        " " + good,
        good + "\n",
        "sha256=" + "z" * 64,
        "sha256=" + "0" * 10_000,
    ]


@pytest.mark.parametrize("value", _malformed())
def test_a_malformed_header_is_a_plain_refusal(value: str) -> None:
    assert _code(MetaWebhookVerifier([SECRET]), BODY, {"x-hub-signature-256": value}) == "INVALID_WHATSAPP_SIGNATURE"


@pytest.mark.parametrize("signing_secret", [SECRET, NEW_SECRET])
def test_either_of_two_secrets_verifies_during_a_rotation(signing_secret: bytes) -> None:
    MetaWebhookVerifier([SECRET, NEW_SECRET]).verify(BODY, _header(BODY, signing_secret))


def test_a_retired_secret_no_longer_verifies() -> None:
    assert _code(MetaWebhookVerifier([NEW_SECRET]), BODY, _header(BODY, SECRET)) == "INVALID_WHATSAPP_SIGNATURE"


def test_only_the_raw_bytes_verify_not_the_json_re_serialised() -> None:
    reserialised = json.dumps(json.loads(BODY), ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(reserialised) == json.loads(BODY)  # the same document...
    verifier = MetaWebhookVerifier([SECRET])
    verifier.verify(BODY, _header(BODY))
    assert _code(verifier, reserialised, _header(BODY)) == "INVALID_WHATSAPP_SIGNATURE"  # ...other bytes


def test_a_refusal_never_carries_the_expected_signature() -> None:
    expected = _header(BODY)["x-hub-signature-256"].removeprefix("sha256=")
    with pytest.raises(AuthenticationFailed) as failure:
        MetaWebhookVerifier([SECRET]).verify(BODY, {"x-hub-signature-256": "sha256=" + "0" * 64})
    assert expected not in f"{failure.value.message} {failure.value.details}"


@pytest.mark.parametrize("secrets", [[], [b""], [SECRET, b""]])
def test_no_secret_or_an_empty_one_is_refused_at_construction(secrets: list[bytes]) -> None:
    with pytest.raises(ValueError, match="secret"):
        MetaWebhookVerifier(secrets)
