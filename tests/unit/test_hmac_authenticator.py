"""HmacRequestAuthenticator against API.md 2.1-2.3: one test per refusal, the window edges, nonce and replay rules.

The authenticator verifies and names the replay claim; `World.authenticate` makes the claim on an in-process store
as the use case's admission does, so the replay rules are pinned on what the authenticator asks to be claimed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import pytest

import memo.adapters.signing.hmac as hmac_module
from memo.adapters.limits.memory import InProcessNonceStore
from memo.adapters.signing.hmac import HmacRequestAuthenticator
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application.dto import ActiveKey, SignedRequest
from memo.application.errors import AuthenticationFailed
from memo.application.ports import KeyStore, NonceStore
from memo.client import sign_request, sign_v1
from memo.domain.owners import Principal
from memo.domain.signing import v2_signature

NOW_S = math.floor(TEST_NOW.timestamp())
KEY_ID = "mk_alice-key_01"
SECRET = b"alice-secret-0123456789abcdefghijklmnop"
OTHER_KEY_ID = "mk_bob-key_0002"
OTHER_SECRET = b"bob-secret-0123456789abcdefghijklmnopqr"
ALICE = UUID("01900000-0000-7000-8000-000000000001")
BOB = UUID("01900000-0000-7000-8000-000000000002")
V1_SECRET = b"v1-shared-secret-of-the-original-frontend-0123456789abcdef0123"
NONCE = "nonce-0123456789ABCDEF"
Swap = dict[str, str | None]
BODY = b'{"content":"buy milk","type":"note"}'


class DictKeyStore(KeyStore):
    def __init__(self) -> None:
        self.keys = {KEY_ID: ActiveKey(key_id=KEY_ID, owner_id=ALICE, secret=SECRET),
                     OTHER_KEY_ID: ActiveKey(key_id=OTHER_KEY_ID, owner_id=BOB, secret=OTHER_SECRET)}
        self.owners = {"default": ALICE}
        self.lookups: list[str] = []

    async def find_active(self, key_id: str) -> ActiveKey | None:
        self.lookups.append(key_id)
        return self.keys.get(key_id)

    async def owner_id_by_name(self, name: str) -> UUID | None:
        return self.owners.get(name)

    def revoke(self, key_id: str) -> None:
        del self.keys[key_id]  # find_active answers only active keys


class RecordingNonceStore(NonceStore):
    def __init__(self, inner: NonceStore) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, int]] = []
        self.shared: list[bool] = []

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        self.calls.append((scope, nonce, ttl_s))
        self.shared.append(shared)
        return await self.inner.remember(scope, nonce, ttl_s, shared=shared)


@dataclass
class World:
    clock: FixedClock = field(default_factory=FixedClock)
    keys: DictKeyStore = field(default_factory=DictKeyStore)
    nonces: RecordingNonceStore = field(init=False)
    v1_secret: bytes | None = None

    def __post_init__(self) -> None:
        self.nonces = RecordingNonceStore(InProcessNonceStore(self.clock))

    @property
    def authenticator(self) -> HmacRequestAuthenticator:
        return HmacRequestAuthenticator(self.keys, self.clock, v1_secret=self.v1_secret)

    async def authenticate(self, request: SignedRequest) -> Principal:
        verified = await self.authenticator.authenticate(request)
        claim = verified.replay
        if not await self.nonces.remember(claim.scope, claim.nonce, claim.ttl_s, shared=claim.shared):
            raise claim.refused()
        return verified.principal

    async def refusal(self, request: SignedRequest) -> AuthenticationFailed:
        with pytest.raises(AuthenticationFailed) as caught:
            await self.authenticate(request)
        return caught.value


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def v1_world() -> World:
    return World(v1_secret=V1_SECRET)


def v2(*, method: str = "POST", path: str = "/api/memories", query: str = "", body: bytes = BODY,
       key_id: str = KEY_ID, secret: bytes = SECRET, timestamp: int = NOW_S, nonce: str = NONCE,
       swap: Swap | None = None) -> SignedRequest:
    """A correctly signed v2 request; `swap` then sets X-Memo-<name> headers (None removes one)."""
    target = f"{path}?{query}" if query else path
    headers = sign_request(method=method, url_or_path_and_query=target, body=body, key_id=key_id, secret=secret,
                           timestamp=timestamp, nonce=nonce)
    return _request(method=method, path=path, query=query, body=body, headers=headers, swap=swap)


def v1(*, method: str = "POST", path: str = "/api/memories", query: str = "", body: bytes = BODY,
       secret: bytes = V1_SECRET, timestamp: int = NOW_S, sha256_prefix: bool = False,
       swap: Swap | None = None) -> SignedRequest:
    headers = sign_v1(body=body, secret=secret, timestamp=timestamp, sha256_prefix=sha256_prefix)
    return _request(method=method, path=path, query=query, body=body, headers=headers, swap=swap)


def _request(*, method: str, path: str, query: str, body: bytes, headers: dict[str, str],
             swap: Swap | None) -> SignedRequest:
    headers = {name.lower(): value for name, value in headers.items()}  # the guard hands lower-case names
    for name, value in (swap or {}).items():
        header = "x-memo-" + name.replace("_", "-")
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value
    return SignedRequest(method=method, path=path, query=query, headers=headers, body=body, client_ip="192.0.2.7")


# --- v2: the happy path -------------------------------------------------------------------------------------------


async def test_a_correctly_signed_request_acts_for_the_keys_owner(world: World) -> None:
    assert await world.authenticate(v2()) == Principal(owner_id=ALICE, key_id=KEY_ID)


async def test_each_key_acts_for_its_own_owner(world: World) -> None:
    principal = await world.authenticate(v2(key_id=OTHER_KEY_ID, secret=OTHER_SECRET))
    assert principal == Principal(owner_id=BOB, key_id=OTHER_KEY_ID)


async def test_the_nonce_is_remembered_per_key_for_the_whole_window(world: World) -> None:
    await world.authenticate(v2())
    assert world.nonces.calls == [(KEY_ID, NONCE, 300 + 60 + 1)]


# --- v2: every refusal of API.md 2.3 --------------------------------------------------------------------------------


async def test_a_request_without_signature_is_missing_signature(world: World) -> None:
    assert (await world.refusal(v2(swap={"signature": None}))).code == "MISSING_SIGNATURE"


async def test_an_empty_signature_header_counts_as_missing(world: World) -> None:
    assert (await world.refusal(v2(swap={"signature": ""}))).code == "MISSING_SIGNATURE"


async def test_a_request_without_timestamp_is_missing_timestamp(world: World) -> None:
    assert (await world.refusal(v2(swap={"timestamp": None}))).code == "MISSING_TIMESTAMP"


@pytest.mark.parametrize("timestamp", [
    "+1795859593", "-1795859593", " 1795859593", "1795859593 ", "1795859593\n", "1795859593.0", "1.7e9", "0x6b0b",
    "01795859593", "1_795_859_593", "1" * 21, "9" * 5000, "now", "\x00",
    "\u0661\u0667\u0669\u0665\u0668\u0665\u0669\u0665\u0669\u0663",  # Arabic-Indic digits
    "\uff11\uff17\uff19\uff15\uff18\uff15\uff19\uff15\uff19\uff13",  # full-width digits
])
async def test_a_timestamp_that_is_not_plain_decimal_is_invalid_timestamp(world: World, timestamp: str) -> None:
    assert (await world.refusal(v2(swap={"timestamp": timestamp}))).code == "INVALID_TIMESTAMP"


async def test_a_v2_signature_without_key_id_is_missing_key_id(world: World) -> None:
    assert (await world.refusal(v2(swap={"key_id": None}))).code == "MISSING_KEY_ID"


async def test_a_key_id_without_signature_prefix_is_still_v2(world: World) -> None:
    request = v2(swap={"signature": "0" * 64})  # v1-shaped, yet X-Memo-Key-Id says v2
    assert (await world.refusal(request)).code == "INVALID_SIGNATURE"


async def test_a_v2_request_without_nonce_is_missing_nonce(world: World) -> None:
    assert (await world.refusal(v2(swap={"nonce": None}))).code == "MISSING_NONCE"


@pytest.mark.parametrize("nonce", [
    "a" * 15, "a" * 65, "nonce=0123456789ABCDEF", "nonce.0123456789ABCDEF", "nonce 0123456789ABCDEF",
    "nonce-0123456789ABCDEé", "nonce-0123456789ABCDE\n", "x" * 100_000,
])
async def test_a_nonce_outside_the_alphabet_or_length_is_invalid_nonce(world: World, nonce: str) -> None:
    assert (await world.refusal(v2(swap={"nonce": nonce}))).code == "INVALID_NONCE"


@pytest.mark.parametrize("key_id", ["short", "k" * 65, "mk_alice.key", "mk_alicé_key", "mk alice key"])
async def test_a_malformed_key_id_is_unknown_without_asking_the_store(world: World, key_id: str) -> None:
    assert (await world.refusal(v2(swap={"key_id": key_id}))).code == "UNKNOWN_KEY"
    assert world.keys.lookups == []


async def test_a_key_id_nobody_holds_is_unknown_key(world: World) -> None:
    assert (await world.refusal(v2(key_id="mk_nobody_000"))).code == "UNKNOWN_KEY"


async def test_a_revoked_key_is_unknown_key(world: World) -> None:
    world.keys.revoke(KEY_ID)
    assert (await world.refusal(v2())).code == "UNKNOWN_KEY"


async def test_a_timestamp_one_second_too_old_is_expired(world: World) -> None:
    refusal = await world.refusal(v2(timestamp=NOW_S - 301))
    assert refusal.code == "EXPIRED_TIMESTAMP"
    assert refusal.details is not None
    assert "301 s old" in refusal.details


async def test_a_timestamp_one_second_too_far_ahead_is_expired(world: World) -> None:
    refusal = await world.refusal(v2(timestamp=NOW_S + 61))
    assert refusal.code == "EXPIRED_TIMESTAMP"
    assert refusal.details is not None
    assert "61 s ahead" in refusal.details


async def test_a_timestamp_exactly_at_the_oldest_edge_is_accepted(world: World) -> None:
    assert await world.authenticate(v2(timestamp=NOW_S - 300))


async def test_a_timestamp_exactly_at_the_newest_edge_is_accepted(world: World) -> None:
    assert await world.authenticate(v2(timestamp=NOW_S + 60))


async def test_the_window_counts_whole_seconds_of_the_clock(world: World) -> None:
    world.clock.set(TEST_NOW.replace(microsecond=999_999))
    assert await world.authenticate(v2(timestamp=NOW_S - 300))


async def test_the_window_is_configurable(world: World) -> None:
    narrow = HmacRequestAuthenticator(world.keys, world.clock, max_age_s=10, max_skew_s=0)
    with pytest.raises(AuthenticationFailed) as old:
        await narrow.authenticate(v2(timestamp=NOW_S - 11))
    with pytest.raises(AuthenticationFailed) as ahead:
        await narrow.authenticate(v2(timestamp=NOW_S + 1, nonce="another-nonce-000001"))
    assert (old.value.code, ahead.value.code) == ("EXPIRED_TIMESTAMP", "EXPIRED_TIMESTAMP")
    assert await narrow.authenticate(v2(timestamp=NOW_S - 10))


async def test_a_signature_made_with_another_secret_is_invalid_signature(world: World) -> None:
    assert (await world.refusal(v2(secret=OTHER_SECRET))).code == "INVALID_SIGNATURE"


async def test_a_body_changed_after_signing_is_invalid_signature(world: World) -> None:
    request = v2()
    tampered = SignedRequest(method=request.method, path=request.path, query=request.query,
                             headers=request.headers, body=request.body + b" ", client_ip=request.client_ip)
    assert (await world.refusal(tampered)).code == "INVALID_SIGNATURE"


async def test_upper_case_hex_is_refused_because_v2_is_lower_case_only(world: World) -> None:
    signature = v2().headers["x-memo-signature"]
    refusal = await world.refusal(v2(swap={"signature": "v2=" + signature[3:].upper()}))
    assert refusal.code == "INVALID_SIGNATURE"


@pytest.mark.parametrize("signature", ["v2=", "v2=abc", "v2=" + "0" * 63, "v2=" + "0" * 65, "v2=" + "g" * 64,
                                       "V2=" + "0" * 64, "v2=" + "é" * 64, "v2=" + "0" * 1_000_000])
async def test_a_signature_of_the_wrong_length_or_alphabet_is_a_plain_failure(world: World, signature: str) -> None:
    assert (await world.refusal(v2(swap={"signature": signature}))).code == "INVALID_SIGNATURE"


async def test_a_method_that_is_not_an_ascii_token_is_invalid_signature(world: World) -> None:
    # "po\u017ft".upper() == "POST": Unicode case folding must not let another method borrow a signature.
    request = v2(method="POST")
    disguised = SignedRequest(method="po\u017ft", path=request.path, query=request.query, headers=request.headers,
                              body=request.body, client_ip=request.client_ip)
    assert (await world.refusal(disguised)).code == "INVALID_SIGNATURE"


async def test_a_line_break_in_the_path_cannot_shift_lines_of_the_signed_string(world: World) -> None:
    signed_with_query = v2(path="/api/memories", query="limit=5")
    shifted = SignedRequest(method="POST", path="/api/memories\nlimit=5", query="",
                            headers=signed_with_query.headers, body=BODY, client_ip="192.0.2.7")
    assert (await world.refusal(shifted)).code == "INVALID_SIGNATURE"


async def test_a_path_that_is_not_utf8_is_invalid_signature_not_a_crash(world: World) -> None:
    request = v2()
    undecodable = SignedRequest(method="POST", path="/api/\udcff", query="", headers=request.headers, body=BODY,
                                client_ip="192.0.2.7")
    assert (await world.refusal(undecodable)).code == "INVALID_SIGNATURE"


async def test_a_second_use_of_a_nonce_is_replayed_request(world: World) -> None:
    await world.authenticate(v2())
    assert (await world.refusal(v2())).code == "REPLAYED_REQUEST"


async def test_a_reused_nonce_is_refused_even_when_everything_else_differs(world: World) -> None:
    await world.authenticate(v2())
    world.clock.advance(seconds=30)
    other = v2(method="DELETE", path="/api/memories/0193a0b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b", query="x=1", body=b"",
               timestamp=NOW_S + 30)
    assert (await world.refusal(other)).code == "REPLAYED_REQUEST"


async def test_the_same_nonce_under_another_key_is_not_a_replay(world: World) -> None:
    await world.authenticate(v2())
    assert await world.authenticate(v2(key_id=OTHER_KEY_ID, secret=OTHER_SECRET))


async def test_a_nonce_is_recorded_only_after_the_signature_verifies(world: World) -> None:
    assert (await world.refusal(v2(secret=OTHER_SECRET))).code == "INVALID_SIGNATURE"
    assert world.nonces.calls == []
    assert await world.authenticate(v2())  # the forged attempt did not burn the nonce


@pytest.mark.parametrize("refused", ["unknown key", "expired", "forged", "malformed signature"])
async def test_no_refused_request_burns_its_nonce(world: World, refused: str) -> None:
    request = {"unknown key": v2(key_id="mk_nobody_000"), "expired": v2(timestamp=NOW_S - 301),
               "forged": v2(secret=b"guess"), "malformed signature": v2(swap={"signature": "v2=0"})}[refused]
    await world.refusal(request)
    assert world.nonces.calls == []


async def test_a_nonce_is_accepted_again_once_its_window_has_passed(world: World) -> None:
    await world.authenticate(v2())
    world.clock.advance(seconds=361)
    assert await world.authenticate(v2(timestamp=NOW_S + 361))


async def test_the_last_second_of_a_future_timestamps_window_cannot_be_replayed(world: World) -> None:
    """Stamped 60 s ahead, a request is accepted until floor(now) - T > 300, i.e. for 361 s: so lives its nonce."""
    ahead = v2(timestamp=NOW_S + 60)
    assert await world.authenticate(ahead)
    world.clock.advance(seconds=360.3 - (TEST_NOW.timestamp() - NOW_S))  # NOW_S + 360.3: T + 300 still in window
    assert (await world.refusal(ahead)).code == "REPLAYED_REQUEST"
    world.clock.advance(seconds=1)  # the window has closed: too old now, whatever the nonce store says
    assert (await world.refusal(ahead)).code == "EXPIRED_TIMESTAMP"


# --- v1 ----------------------------------------------------------------------------------------------------------


async def test_v1_is_invalid_signature_while_v1_is_off(world: World) -> None:
    refusal = await world.refusal(v1())
    assert refusal.code == "INVALID_SIGNATURE"
    assert refusal.details is not None
    assert "v2" in refusal.details


async def test_v1_acts_for_the_default_owner_when_enabled(v1_world: World) -> None:
    assert await v1_world.authenticate(v1()) == Principal(owner_id=ALICE, key_id="v1")


async def test_v1_maps_to_the_configured_owner_name(v1_world: World) -> None:
    v1_world.keys.owners["legacy"] = BOB
    authenticator = HmacRequestAuthenticator(v1_world.keys, v1_world.clock, v1_secret=V1_SECRET,
                                             v1_owner_name="legacy")
    assert (await authenticator.authenticate(v1())).principal.owner_id == BOB


async def test_v1_without_a_body_signs_timestamp_and_dot(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(method="GET", body=b""))


async def test_v1_accepts_the_sha256_prefix_and_upper_case_hex(v1_world: World) -> None:
    signature = v1(sha256_prefix=True).headers["x-memo-signature"]
    assert await v1_world.authenticate(v1(swap={"signature": signature.upper().replace("SHA256=", "sha256=")}))


async def test_v1_with_the_wrong_secret_is_invalid_signature(v1_world: World) -> None:
    assert (await v1_world.refusal(v1(secret=b"not the v1 secret"))).code == "INVALID_SIGNATURE"


@pytest.mark.parametrize("signature", ["abc", "0" * 63, "sha1=" + "0" * 64, "sha256:" + "0" * 64, "g" * 64])
async def test_a_malformed_v1_signature_is_invalid_signature(v1_world: World, signature: str) -> None:
    assert (await v1_world.refusal(v1(swap={"signature": signature}))).code == "INVALID_SIGNATURE"


async def test_an_old_v1_timestamp_is_invalid_signature_saying_it_is_too_old(v1_world: World) -> None:
    refusal = await v1_world.refusal(v1(timestamp=NOW_S - 301))
    assert refusal.code == "INVALID_SIGNATURE"
    assert refusal.details is not None
    assert "old" in refusal.details


async def test_a_v1_timestamp_too_far_ahead_is_expired_timestamp(v1_world: World) -> None:
    assert (await v1_world.refusal(v1(timestamp=NOW_S + 61))).code == "EXPIRED_TIMESTAMP"


async def test_v1_window_edges_are_accepted(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(timestamp=NOW_S - 300))
    assert await v1_world.authenticate(v1(timestamp=NOW_S + 60))


async def test_v1_without_a_default_owner_is_unknown_key(v1_world: World) -> None:
    v1_world.keys.owners.clear()
    assert (await v1_world.refusal(v1())).code == "UNKNOWN_KEY"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_v1_read_may_repeat_its_signature(v1_world: World, method: str) -> None:
    for _ in range(3):  # two reads in one second sign the same "<ts>.": both are the client's own
        assert await v1_world.authenticate(v1(method=method, body=b""))
    assert v1_world.nonces.shared == [True, True, True]


async def test_v1_reads_are_remembered_by_their_signature(v1_world: World) -> None:
    read = v1(method="GET", body=b"")
    await v1_world.authenticate(read)
    assert v1_world.nonces.calls == [("v1", read.headers["x-memo-signature"], 300 + 60 + 1)]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_v1_writes_are_replay_checked(v1_world: World, method: str) -> None:
    await v1_world.authenticate(v1(method=method))
    assert (await v1_world.refusal(v1(method=method))).code == "REPLAYED_REQUEST"
    assert [call[0] for call in v1_world.nonces.calls] == ["v1", "v1"]
    assert v1_world.nonces.shared == [False, False]


@pytest.mark.parametrize(("path", "query"), [
    ("/api/memories", "x=1"), ("/api/%6Demories", ""), ("/api/%6demories", ""), ("/api/memories/", ""),
    ("//api/memories", ""), ("/api//memories", ""), ("/%61pi/memories", ""),
])
async def test_a_v1_write_is_refused_again_on_every_spelling_of_its_route(v1_world: World, path: str,
                                                                          query: str) -> None:
    assert await v1_world.authenticate(v1())
    assert (await v1_world.refusal(v1(path=path, query=query))).code == "REPLAYED_REQUEST"


async def test_a_v1_write_is_refused_again_on_any_route_and_method(v1_world: World) -> None:
    assert await v1_world.authenticate(v1())
    assert (await v1_world.refusal(v1(method="PATCH", path="/api/memories/0193a0b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b"))
            ).code == "REPLAYED_REQUEST"


async def test_a_captured_v1_read_signature_cannot_authorise_a_delete(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(method="GET", body=b""))
    delete = v1(method="DELETE", path="/api/memories/0193a0b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b", body=b"")
    assert (await v1_world.refusal(delete)).code == "REPLAYED_REQUEST"


async def test_once_a_write_used_a_v1_signature_no_read_may_use_it(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(method="DELETE", path="/api/memories/a", body=b""))
    assert (await v1_world.refusal(v1(method="GET", body=b""))).code == "REPLAYED_REQUEST"


async def test_a_refused_v1_write_still_ends_the_reads_of_its_signature(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(method="GET", body=b""))
    assert (await v1_world.refusal(v1(method="DELETE", body=b""))).code == "REPLAYED_REQUEST"
    assert (await v1_world.refusal(v1(method="GET", body=b""))).code == "REPLAYED_REQUEST"


async def test_a_v1_method_in_another_case_is_a_write_not_a_read(v1_world: World) -> None:
    assert await v1_world.authenticate(v1(method="GET", body=b""))
    assert (await v1_world.refusal(v1(method="get", body=b""))).code == "REPLAYED_REQUEST"
    assert await v1_world.authenticate(v1(method="head", body=b"", timestamp=NOW_S - 1))
    assert (await v1_world.refusal(v1(method="HEAD", body=b"", timestamp=NOW_S - 1))).code == "REPLAYED_REQUEST"


async def test_v1_replay_cannot_hide_behind_another_spelling_of_the_signature(v1_world: World) -> None:
    await v1_world.authenticate(v1())
    digest = v1().headers["x-memo-signature"]
    assert (await v1_world.refusal(v1(swap={"signature": "sha256=" + digest}))).code == "REPLAYED_REQUEST"
    assert (await v1_world.refusal(v1(swap={"signature": digest.upper()}))).code == "REPLAYED_REQUEST"
    assert (await v1_world.refusal(v1(method="post"))).code == "REPLAYED_REQUEST"


async def test_two_bodiless_v1_writes_in_one_second_sign_alike_so_the_second_is_refused(v1_world: World) -> None:
    """The price of a signature-only replay key: v1 cannot tell these apart from a replay (v2 can)."""
    assert await v1_world.authenticate(v1(method="DELETE", path="/api/memories/a", body=b""))
    assert (await v1_world.refusal(v1(method="DELETE", path="/api/memories/b", body=b""))).code == "REPLAYED_REQUEST"
    next_second = v1(method="DELETE", path="/api/memories/b", body=b"", timestamp=NOW_S + 1)
    v1_world.clock.advance(seconds=1)
    assert await v1_world.authenticate(next_second)


async def test_v2_still_works_while_v1_is_enabled(v1_world: World) -> None:
    assert (await v1_world.authenticate(v2())).key_id == KEY_ID


# --- what refusals say ------------------------------------------------------------------------------------------


async def test_refusals_never_reveal_the_expected_signature_secret_or_signed_string(v1_world: World) -> None:
    good_v2, good_v1 = v2(), v1()
    refusals = [
        await v1_world.refusal(v2(swap={"signature": "v2=" + "0" * 64})),
        await v1_world.refusal(v2(swap={"signature": "v2=" + good_v2.headers["x-memo-signature"][3:].upper()})),
        await v1_world.refusal(v1(swap={"signature": "0" * 64})),
        await v1_world.refusal(v2(timestamp=NOW_S - 1000)),
        await v1_world.refusal(v1(timestamp=NOW_S - 1000)),
    ]
    secrets = [good_v2.headers["x-memo-signature"][3:], good_v1.headers["x-memo-signature"], SECRET.decode(),
               V1_SECRET.decode(), "\n" + KEY_ID + "\n", NONCE]
    for refusal in refusals:
        text = f"{refusal.message} {refusal.details} {refusal}"
        assert not any(secret in text for secret in secrets), refusal.code


def test_the_window_bounds_must_not_be_negative() -> None:
    world = World()
    with pytest.raises(ValueError, match="negative"):
        HmacRequestAuthenticator(world.keys, world.clock, max_age_s=-1)


def test_an_empty_v1_secret_is_refused_at_construction() -> None:
    world = World()
    with pytest.raises(ValueError, match="empty"):
        HmacRequestAuthenticator(world.keys, world.clock, v1_secret=b"")



# --- a rotated key: the previous secret within its grace ------------------------------------------------------------

NEW_SECRET = b"alice-rotated-secret-0123456789abcdefghij"
GRACE_END = TEST_NOW + timedelta(seconds=30)


def rotate(world: World, *, previous_valid_until: datetime = GRACE_END) -> None:
    world.keys.keys[KEY_ID] = ActiveKey(key_id=KEY_ID, owner_id=ALICE, secret=NEW_SECRET, previous_secret=SECRET,
                                        previous_valid_until=previous_valid_until)


async def test_a_rotated_keys_new_secret_is_accepted_at_once(world: World) -> None:
    rotate(world)
    assert await world.authenticate(v2(secret=NEW_SECRET)) == Principal(owner_id=ALICE, key_id=KEY_ID)


async def test_a_rotated_keys_previous_secret_is_accepted_within_the_grace(world: World) -> None:
    rotate(world)
    world.clock.advance(seconds=29)
    assert await world.authenticate(v2(timestamp=NOW_S + 29)) == Principal(owner_id=ALICE, key_id=KEY_ID)


async def test_a_rotated_keys_previous_secret_is_refused_from_the_end_of_the_grace(world: World) -> None:
    rotate(world)
    world.clock.advance(seconds=30)
    refusal = await world.refusal(v2(timestamp=NOW_S + 30))
    assert refusal.code == "INVALID_SIGNATURE"
    assert await world.authenticate(v2(secret=NEW_SECRET, timestamp=NOW_S + 30, nonce="nonce-after-grace-0001"))


async def test_a_rotation_without_grace_refuses_the_previous_secret_at_once(world: World) -> None:
    rotate(world, previous_valid_until=TEST_NOW)
    assert (await world.refusal(v2())).code == "INVALID_SIGNATURE"


async def test_a_wrong_secret_is_refused_during_a_grace(world: World) -> None:
    rotate(world)
    assert (await world.refusal(v2(secret=OTHER_SECRET))).code == "INVALID_SIGNATURE"


async def test_revoking_a_rotated_key_refuses_both_secrets(world: World) -> None:
    rotate(world)
    world.keys.revoke(KEY_ID)
    assert (await world.refusal(v2())).code == "UNKNOWN_KEY"
    assert (await world.refusal(v2(secret=NEW_SECRET, nonce="nonce-new-secret-0001"))).code == "UNKNOWN_KEY"


async def test_the_signature_is_computed_against_both_secrets_whichever_matches(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing: the same work for the current and the previous secret, and for a key never rotated."""
    computed: list[bytes] = []
    def counting(secret: bytes, signed: bytes) -> str:
        computed.append(secret)
        return v2_signature(secret, signed)

    monkeypatch.setattr(hmac_module, "v2_signature", counting)
    await world.authenticate(v2(key_id=OTHER_KEY_ID, secret=OTHER_SECRET))
    rotate(world)
    await world.authenticate(v2(secret=NEW_SECRET, nonce="nonce-new-secret-0001"))
    await world.authenticate(v2(nonce="nonce-old-secret-0001"))
    assert computed == [OTHER_SECRET, OTHER_SECRET, NEW_SECRET, SECRET, NEW_SECRET, SECRET]
