"""Meta's webhook signature (`X-Hub-Signature-256: sha256=<hex>`), checked over the raw body.

Meta signs the exact bytes it sends, with non-ASCII escaped as `\\uXXXX` and `/` as `\\/`; re-serialising the JSON
would change them, so only the raw body is checked, before anything parses it. Several app secrets are accepted so
a secret can be rotated without dropping a week of Meta's retries. The header is untrusted text: anything but the
one spelling Meta writes (lowercase hex) is a plain refusal, never an exception.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from memo.application.errors import WebhookSignatureRejected
from memo.application.ports import WebhookVerifier

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")  # an explicit ASCII class: no Unicode digits slip through
_FORMAT = "X-Hub-Signature-256 must be 'sha256=' followed by 64 lowercase hex characters."


class MetaWebhookVerifier(WebhookVerifier):
    def __init__(self, app_secrets: Sequence[bytes]) -> None:
        if not app_secrets:
            raise ValueError("at least one WhatsApp app secret is needed to verify webhooks")
        if any(not secret for secret in app_secrets):
            raise ValueError("an empty app secret would let anyone sign")
        self._secrets = tuple(app_secrets)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        presented = headers.get(SIGNATURE_HEADER) or ""
        if not presented:
            raise WebhookSignatureRejected("MISSING_WHATSAPP_SIGNATURE", "The webhook is not signed: "
                                       "X-Hub-Signature-256 is missing.")
        match = _SIGNATURE.fullmatch(presented)
        if match is None:
            raise WebhookSignatureRejected("INVALID_WHATSAPP_SIGNATURE", "The webhook signature is malformed.", _FORMAT)
        digest = bytes.fromhex(match.group(1))
        # Every secret is tried, whichever matches: the time taken says nothing about which one, or whether any.
        matches = [hmac.compare_digest(digest, hmac.new(secret, body, hashlib.sha256).digest())
                   for secret in self._secrets]
        if not any(matches):
            raise WebhookSignatureRejected("INVALID_WHATSAPP_SIGNATURE", "The webhook signature does not verify "
                                       "with any configured app secret.")


class _UnsetAppSecret(WebhookVerifier):
    """No WHATSAPP_APP_SECRET: nothing can be verified, so every notification is refused, signed or not."""

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:  # noqa: ARG002 - refuses whatever comes
        if not headers.get(SIGNATURE_HEADER):
            raise WebhookSignatureRejected("MISSING_WHATSAPP_SIGNATURE", "The webhook is not signed: "
                                       "X-Hub-Signature-256 is missing.")
        raise WebhookSignatureRejected("INVALID_WHATSAPP_SIGNATURE", "The webhook signature cannot be verified: "
                                   "no WHATSAPP_APP_SECRET is configured.")


UNSET_APP_SECRET = _UnsetAppSecret()
