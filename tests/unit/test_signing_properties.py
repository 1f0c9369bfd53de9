"""Properties of request signing: every signed element is bound, the signed string is its eight lines, and no
header value (Memo's or Meta's) escapes as anything but the documented refusal."""

from __future__ import annotations

import hashlib
import hmac
import math
import string
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memo.adapters.signing.hmac import HmacRequestAuthenticator
from memo.adapters.signing.whatsapp import MetaWebhookVerifier
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application.dto import ActiveKey, SignedRequest
from memo.application.errors import AuthenticationFailed, WebhookSignatureRejected
from memo.application.ports import KeyStore
from memo.client import sign_request, sign_v1, split_target
from memo.domain.owners import KEY_ID_PATTERN
from memo.domain.signing import same_signature, v2_signed_string

NOW_S = math.floor(TEST_NOW.timestamp())
SECRET = b"property-secret-0123456789abcdefghijkl"
OWNER = UUID("01900000-0000-7000-8000-0000000000ff")
TOKEN = string.ascii_letters + string.digits + "_-"
CODES = {"MISSING_SIGNATURE", "MISSING_TIMESTAMP", "INVALID_TIMESTAMP", "MISSING_KEY_ID", "MISSING_NONCE",
         "INVALID_NONCE", "UNKNOWN_KEY", "EXPIRED_TIMESTAMP", "REPLAYED_REQUEST", "INVALID_SIGNATURE"}
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class EveryKeyStore(KeyStore):
    """Knows every well-formed key id under one secret, so a changed key id reaches the HMAC instead of the lookup."""

    async def find_active(self, key_id: str) -> ActiveKey | None:
        return ActiveKey(key_id=key_id, owner_id=OWNER, secret=SECRET) if KEY_ID_PATTERN.fullmatch(key_id) else None

    async def owner_id_by_name(self, name: str) -> UUID | None:
        return OWNER


def authenticator(*, v1: bool = False) -> HmacRequestAuthenticator:
    clock = FixedClock()
    return HmacRequestAuthenticator(EveryKeyStore(), clock, v1_secret=SECRET if v1 else None)


wire_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"), max_size=40)
requests = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    "path": wire_text.map(lambda text: "/" + text),
    "query": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=40),
    "body": st.binary(max_size=300),
    "key_id": st.text(TOKEN, min_size=8, max_size=64),
    "nonce": st.text(TOKEN, min_size=16, max_size=64),
    "timestamp": st.integers(NOW_S - 290, NOW_S + 50),
})
ELEMENTS = ["timestamp", "nonce", "key_id", "method", "path", "query", "body"]


def signed(fields: dict[str, object]) -> SignedRequest:
    method, path, query, body = str(fields["method"]), str(fields["path"]), str(fields["query"]), fields["body"]
    assert isinstance(body, bytes)
    headers = sign_request(method=method, url_or_path_and_query=f"{path}?{query}" if query else path, body=body,
                           key_id=str(fields["key_id"]), secret=SECRET, timestamp=int(str(fields["timestamp"])),
                           nonce=str(fields["nonce"]))
    return SignedRequest(method=method, path=path, query=query, body=body, client_ip="192.0.2.9",
                         headers={name.lower(): value for name, value in headers.items()})


def changed_char(text: str, index: int, alphabet: str) -> str:
    """`text` with the character at `index` replaced by another one of `alphabet`, case-insensitively different."""
    index %= len(text)
    old = text[index]
    new = next(char for char in alphabet if char.upper() != old.upper())
    return text[:index] + new + text[index + 1:]


def mutate(request: SignedRequest, element: str, index: int, flip: int) -> SignedRequest:
    headers = dict(request.headers)
    method, path, query, body = request.method, request.path, request.query, request.body
    if element == "timestamp":  # the last digit only: the value stays inside the window
        stamp = headers["x-memo-timestamp"]
        headers["x-memo-timestamp"] = stamp[:-1] + str((int(stamp[-1]) + 1 + flip % 9) % 10)
    elif element == "nonce":
        headers["x-memo-nonce"] = changed_char(headers["x-memo-nonce"], index, TOKEN)
    elif element == "key_id":
        headers["x-memo-key-id"] = changed_char(headers["x-memo-key-id"], index, TOKEN)
    elif element == "method":
        method = changed_char(method, index, string.ascii_uppercase)
    elif element == "path":
        path = changed_char(path, index, "/abc%20")
    elif element == "query":
        query = changed_char(query, index, "=&a+%") if query else "a"
    elif body:
        position = index % len(body)
        body = body[:position] + bytes([body[position] ^ (1 + flip % 255)]) + body[position + 1:]
    else:
        body = b"\x00"
    return SignedRequest(method=method, path=path, query=query, headers=headers, body=body,
                         client_ip=request.client_ip)


@BOUNDED
@given(fields=requests)
async def test_an_unchanged_signed_request_verifies(fields: dict[str, object]) -> None:
    assert await authenticator().authenticate(signed(fields))


@BOUNDED
@given(fields=requests, element=st.sampled_from(ELEMENTS), index=st.integers(0, 10_000), flip=st.integers(0, 254))
async def test_changing_any_one_signed_element_breaks_verification(fields: dict[str, object], element: str,
                                                                   index: int, flip: int) -> None:
    tampered = mutate(signed(fields), element, index, flip)
    with pytest.raises(AuthenticationFailed) as refused:
        await authenticator().authenticate(tampered)
    assert refused.value.code == "INVALID_SIGNATURE"


weird_chars = st.one_of(st.characters(exclude_categories=()),  # surrogates included: undecodable bytes arrive so
                        st.sampled_from(["\n", "\r", "\x00", "\udcff", "\ud800", "\u017f", "\uff11", " ", "?"]))
weird_text = st.lists(weird_chars, max_size=80).map("".join)  # st.text would drop the surrogates
header_values = st.one_of(
    st.none(), weird_text, st.just(""),
    st.integers(-(10**30), 10**30).map(str), st.integers(NOW_S - 400, NOW_S + 100).map(str),
    st.text(TOKEN, min_size=0, max_size=80),
    st.builds(lambda hex_part, prefix: prefix + hex_part,
              st.text("0123456789abcdefABCDEF", min_size=60, max_size=68), st.sampled_from(["", "v2=", "sha256="])),
)
weird_headers = st.fixed_dictionaries({
    "x-memo-signature": header_values, "x-memo-timestamp": header_values,
    "x-memo-key-id": header_values, "x-memo-nonce": header_values,
}).map(lambda headers: {name: value for name, value in headers.items() if value is not None})
weird_targets = st.tuples(weird_text, weird_text, weird_text, st.binary(max_size=64))  # method, path, query, body
Target = tuple[str, str, str, bytes]


@BOUNDED
@given(headers=weird_headers, target=weird_targets, v1=st.booleans())
async def test_arbitrary_header_values_only_ever_raise_authentication_failed(
        headers: dict[str, str], target: Target, v1: bool) -> None:
    method, path, query, body = target
    request = SignedRequest(method=method, path=path, query=query, headers=headers, body=body, client_ip="?")
    with pytest.raises(AuthenticationFailed) as refused:
        await authenticator(v1=v1).authenticate(request)
    assert refused.value.code in CODES
    assert SECRET.decode() not in f"{refused.value.message} {refused.value.details}"


@BOUNDED
@given(target=weird_targets, stamp=st.integers(NOW_S - 300, NOW_S + 60))
async def test_a_valid_v1_signature_verifies_whatever_the_method_path_and_query(
        target: Target, stamp: int) -> None:
    method, path, query, body = target
    headers = {name.lower(): value for name, value in sign_v1(body=body, secret=SECRET, timestamp=stamp).items()}
    request = SignedRequest(method=method, path=path, query=query, headers=headers, body=body, client_ip="?")
    assert await authenticator(v1=True).authenticate(request)


well_formed_v2_headers = st.fixed_dictionaries({
    "x-memo-signature": st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda digest: "v2=" + digest),
    "x-memo-timestamp": st.integers(NOW_S - 300, NOW_S + 60).map(str),
    "x-memo-key-id": st.text(TOKEN, min_size=8, max_size=64),
    "x-memo-nonce": st.text(TOKEN, min_size=16, max_size=64),
})


@BOUNDED
@given(headers=well_formed_v2_headers, target=weird_targets, method=st.one_of(weird_text, st.sampled_from(["POST"])))
async def test_well_formed_headers_with_any_method_path_and_query_reach_a_plain_refusal(
        headers: dict[str, str], target: Target, method: str) -> None:
    _, path, query, body = target
    request = SignedRequest(method=method, path=path, query=query, headers=headers, body=body, client_ip="?")
    with pytest.raises(AuthenticationFailed) as refused:
        await authenticator().authenticate(request)
    assert refused.value.code == "INVALID_SIGNATURE"


# --- the signed string, the signature comparison and the target split, alone ----------------------------------

line = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=40)


@BOUNDED
@given(timestamp=line, nonce=line, key_id=line, method=line, path=line, query=line, body=st.binary(max_size=200))
def test_the_signed_string_is_its_eight_lines_so_no_two_requests_sign_alike(
        *, timestamp: str, nonce: str, key_id: str, method: str, path: str, query: str, body: bytes) -> None:
    signed = v2_signed_string(timestamp=timestamp, nonce=nonce, key_id=key_id, method=method, path=path, query=query,
                              body=body)
    assert signed.decode().split("\n") == ["v2", timestamp, nonce, key_id, method.upper(), path, query,
                                           hashlib.sha256(body).hexdigest()]


@BOUNDED
@given(presented=weird_text, expected=st.text("0123456789abcdef", min_size=64, max_size=64).map("v2=".__add__))
def test_comparing_any_presented_signature_is_a_plain_answer_never_an_exception(presented: str, expected: str) -> None:
    assert same_signature(presented, expected) is (presented == expected)
    assert same_signature(expected, expected)


@BOUNDED
@given(path=wire_text.map(lambda text: "/" + text.replace("#", "")), query=st.none() | wire_text,
       fragment=st.none() | wire_text)
def test_a_target_splits_into_the_path_and_query_it_is_sent_as(path: str, query: str | None,
                                                               fragment: str | None) -> None:
    target = path + ("" if query is None else "?" + query) + ("" if fragment is None else "#" + fragment)
    assert split_target(target) == (path, query or "")
    assert split_target("http://127.0.0.1:3001" + target) == (path, query or "")


# --- Meta's X-Hub-Signature-256, the webhook's signature header ---------------------------------------------------

HUB_SECRET = b"hub-property-secret-0123456789abcdef"
HUB_CODES = {"MISSING_WHATSAPP_SIGNATURE", "INVALID_WHATSAPP_SIGNATURE"}


def hub_signature(body: bytes, secret: bytes = HUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


hex_digests = st.text("0123456789abcdefABCDEF", min_size=62, max_size=66).map("sha256=".__add__)


@BOUNDED
@given(value=st.one_of(header_values, hex_digests), body=st.binary(max_size=300), right=st.booleans())
def test_any_hub_signature_header_verifies_only_when_it_is_the_bodys_digest(value: str | None, body: bytes,
                                                                            right: bool) -> None:
    value = hub_signature(body) if right else value
    headers = {} if value is None else {"x-hub-signature-256": value}
    try:
        MetaWebhookVerifier([HUB_SECRET]).verify(body, headers)
    except WebhookSignatureRejected as refused:
        failure: WebhookSignatureRejected | None = refused
    else:
        failure = None
    assert (failure is None) is (value == hub_signature(body))
    if failure is not None:
        assert failure.code in HUB_CODES
        assert HUB_SECRET.decode() not in f"{failure.message} {failure.details}"


@BOUNDED
@given(body=st.binary(max_size=300), index=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_a_hub_signature_verifies_its_exact_body_and_no_other(body: bytes, index: int, flip: int) -> None:
    verifier = MetaWebhookVerifier([b"an-older-secret-still-accepted-0123", HUB_SECRET])
    verifier.verify(body, {"x-hub-signature-256": hub_signature(body)})
    changed = body + b"\x00" if not body else (
        body[:index % len(body)] + bytes([body[index % len(body)] ^ flip]) + body[index % len(body) + 1:])
    with pytest.raises(WebhookSignatureRejected) as refused:
        verifier.verify(changed, {"x-hub-signature-256": hub_signature(body)})
    assert refused.value.code == "INVALID_WHATSAPP_SIGNATURE"
