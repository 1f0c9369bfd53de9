"""HMAC-SHA256 request authentication (API.md 2.1-2.3): scheme v2 always, the legacy v1 scheme only when configured.

Checks run cheapest and least revealing first: header presence and syntax, then the window, then the key lookup,
then the HMAC. Only a request that verifies gets its replay claim (the v2 nonce, the v1 digest), which the caller
makes after this returns (ports.RequestAdmission), so unsigned traffic can neither burn a nonce nor fill the store.
Header values are untrusted text of any length or alphabet: each is matched against a strict ASCII pattern before
it is used, so no value leads to anything but `AuthenticationFailed`. Refusals never carry a header value, the
expected signature, a secret or a signed string.

A rotated key has two secrets during its grace (`memo keys rotate`): the signature is checked against both, every
time, each in constant time and combined without short-circuit, so the time taken tells neither which secret
matched nor whether the key has a previous one. Once the grace ends the previous secret is refused like any other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from memo.application.admission import ReplayClaim, VerifiedRequest
from memo.application.dto import SignedRequest
from memo.application.errors import AuthenticationFailed
from memo.application.ports import Clock, KeyStore, RequestAuthenticator
from memo.domain.owners import KEY_ID_PATTERN, Principal
from memo.domain.signing import V2_PREFIX, same_signature, v1_signature, v2_signature, v2_signed_string

SIGNATURE_HEADER = "x-memo-signature"
TIMESTAMP_HEADER = "x-memo-timestamp"
KEY_ID_HEADER = "x-memo-key-id"
NONCE_HEADER = "x-memo-nonce"
V1_KEY_ID = "v1"  # shorter than any real key id (8+ chars), so the v1 replay scope cannot meet a key's nonce scope

# Canonical decimal only: no sign, spaces, leading zeros or non-ASCII digits; 20 digits keep int() cheap.
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,19}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_V2_SIGNATURE = re.compile(r"v2=[0-9a-f]{64}")  # lowercase only, as API.md writes it: one spelling per signature
_V1_SIGNATURE = re.compile(r"(?:sha256=)?([0-9a-fA-F]{64})")  # the seed decoded hex in either case; so do we
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")  # an ASCII token: no Unicode case folding into "POST"
_V1_READS = frozenset({"GET", "HEAD"})
_V2_FORMAT = "X-Memo-Signature must be 'v2=' followed by 64 lowercase hex characters."
_V2_REPLAYED = ("This nonce was already used with this key.", "Send a fresh X-Memo-Nonce with every request.")
_V1_REPLAYED = ("This signed request was already received.",
                ("A v1 signature may be repeated by GET and HEAD requests only, never by or after a write; "
                 "use v2 signatures."))


class HmacRequestAuthenticator(RequestAuthenticator):
    def __init__(self, keys: KeyStore, clock: Clock, *, max_age_s: int = 300, max_skew_s: int = 60,
                 v1_secret: bytes | None = None, v1_owner_name: str = "default") -> None:
        if max_age_s < 0 or max_skew_s < 0:
            raise ValueError("the signature window bounds must not be negative")
        if v1_secret is not None and not v1_secret:
            raise ValueError("an empty v1 secret would let anyone sign")
        self._keys, self._clock = keys, clock
        self._max_age_s, self._max_skew_s = max_age_s, max_skew_s
        self._v1_secret, self._v1_owner_name = v1_secret, v1_owner_name
        # A nonce must outlive every moment its timestamp is still accepted. A timestamp T is at most now + max_skew
        # and is accepted while floor(now) - T <= max_age, that is until T + max_age + 1 (exclusive): the last whole
        # second of the window is the reason for the + 1.
        self._replay_ttl_s = max_age_s + max_skew_s + 1

    def claimed_key_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(KEY_ID_HEADER) or None

    async def authenticate(self, request: SignedRequest) -> VerifiedRequest:
        headers = request.headers
        signature = headers.get(SIGNATURE_HEADER) or ""
        timestamp = headers.get(TIMESTAMP_HEADER) or ""
        key_id = headers.get(KEY_ID_HEADER) or ""
        nonce = headers.get(NONCE_HEADER) or ""
        if not signature:
            raise AuthenticationFailed("MISSING_SIGNATURE", "The request is not signed: X-Memo-Signature is missing.")
        if not timestamp:
            raise AuthenticationFailed("MISSING_TIMESTAMP", "X-Memo-Timestamp is missing.")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise AuthenticationFailed("INVALID_TIMESTAMP", "X-Memo-Timestamp is not a plain decimal integer.",
                                       "Unix time in whole seconds: ASCII digits only, no sign, spaces or leading "
                                       "zeros, at most 20 digits.")
        if signature.startswith(V2_PREFIX) or key_id or nonce:
            return await self._v2(request, signature=signature, timestamp=timestamp, key_id=key_id, nonce=nonce)
        return await self._v1(request, signature=signature, timestamp=timestamp)

    async def _v2(self, request: SignedRequest, *, signature: str, timestamp: str, key_id: str,
                  nonce: str) -> VerifiedRequest:
        if not key_id:
            raise AuthenticationFailed("MISSING_KEY_ID", "X-Memo-Key-Id is missing.")
        if not nonce:
            raise AuthenticationFailed("MISSING_NONCE", "X-Memo-Nonce is missing.")
        if not _NONCE.fullmatch(nonce):
            raise AuthenticationFailed("INVALID_NONCE", "X-Memo-Nonce is malformed.",
                                       "16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'.")
        if not KEY_ID_PATTERN.fullmatch(key_id):  # cannot name a key, so the store is not even asked
            raise AuthenticationFailed("UNKNOWN_KEY", "No active API key has this id.",
                                       "A key id is 8 to 64 characters of A-Z, a-z, 0-9, '_' and '-'.")
        self._check_window(timestamp, old_code="EXPIRED_TIMESTAMP")
        key = await self._keys.find_active(key_id)
        if key is None:
            raise AuthenticationFailed("UNKNOWN_KEY", "No active API key has this id.")
        _verify_v2(request, signature=signature, timestamp=timestamp, key_id=key_id, nonce=nonce, secret=key.secret,
                   previous=key.previous_at(self._clock.now()))
        replay = ReplayClaim(scope=key.key_id, nonce=nonce, ttl_s=self._replay_ttl_s, refusal=_V2_REPLAYED[0],
                             refusal_details=_V2_REPLAYED[1])
        return VerifiedRequest(principal=Principal(owner_id=key.owner_id, key_id=key.key_id), replay=replay)

    async def _v1(self, request: SignedRequest, *, signature: str, timestamp: str) -> VerifiedRequest:
        if self._v1_secret is None:
            raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.",
                                       "Only v2 signatures are accepted: " + _V2_FORMAT)
        match = _V1_SIGNATURE.fullmatch(signature)
        if match is None:
            raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.",
                                       "A v1 signature is 64 hex characters, optionally after 'sha256='.")
        digest = match.group(1).lower()
        self._check_window(timestamp, old_code="INVALID_SIGNATURE")  # the seed's clients expect this code
        if not same_signature(digest, v1_signature(self._v1_secret, timestamp=timestamp, body=request.body)):
            raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.")
        owner_id = await self._keys.owner_id_by_name(self._v1_owner_name)
        if owner_id is None:
            raise AuthenticationFailed("UNKNOWN_KEY", "No owner is configured for v1 signatures.")
        # v1 signs neither method nor path nor query, so the replay key is the (lower-cased) digest alone: no other
        # spelling of the route, the method or the signature makes a seen signature new. Reads may repeat one (two
        # reads in one second sign the same "<ts>."), but a write may not, and once a write has used a signature no
        # read may use it again. Exact case: only a true GET or HEAD is a read.
        replay = ReplayClaim(scope=V1_KEY_ID, nonce=digest, ttl_s=self._replay_ttl_s,
                             shared=request.method in _V1_READS, refusal=_V1_REPLAYED[0],
                             refusal_details=_V1_REPLAYED[1])
        return VerifiedRequest(principal=Principal(owner_id=owner_id, key_id=V1_KEY_ID), replay=replay)

    def _check_window(self, timestamp: str, *, old_code: str) -> None:
        """Whole seconds on both sides, so the edges are exact: now - max_age and now + max_skew are accepted."""
        age_s = math.floor(self._clock.now().timestamp()) - int(timestamp)
        if age_s > self._max_age_s:
            raise AuthenticationFailed(old_code, "The request timestamp is too old.",
                                       f"The timestamp is {age_s} s old; at most {self._max_age_s} s is accepted.")
        if -age_s > self._max_skew_s:
            raise AuthenticationFailed("EXPIRED_TIMESTAMP", "The request timestamp is in the future.",
                                       f"The timestamp is {-age_s} s ahead of the server clock; "
                                       f"at most {self._max_skew_s} s is accepted.")


def _verify_v2(request: SignedRequest, *, signature: str, timestamp: str, key_id: str, nonce: str,
               secret: bytes, previous: bytes | None) -> None:
    if not _V2_SIGNATURE.fullmatch(signature):
        raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.", _V2_FORMAT)
    # A line break in a signed line would let one request pose as another (path "a\nb" vs path "a", query "b").
    if not _METHOD.fullmatch(request.method) or "\n" in request.path or "\n" in request.query:
        raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.",
                                   "The method is not an HTTP token, or the path or query holds a line break.")
    try:
        signed = v2_signed_string(timestamp=timestamp, nonce=nonce, key_id=key_id, method=request.method,
                                  path=request.path, query=request.query, body=request.body)
    except UnicodeEncodeError:  # e.g. undecodable path bytes passed through as surrogates
        raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.",
                                   "The path or query is not valid UTF-8.") from None
    # Two HMACs and two comparisons always: with no previous secret the current one stands in, and never counts.
    current_matches = same_signature(signature, v2_signature(secret, signed))
    previous_matches = same_signature(signature, v2_signature(previous or secret, signed))
    if not (current_matches | (previous_matches & (previous is not None))):
        raise AuthenticationFailed("INVALID_SIGNATURE", "The request signature does not verify.")
