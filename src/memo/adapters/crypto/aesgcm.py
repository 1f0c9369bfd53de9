"""API key secrets sealed at rest with AES-256-GCM, under a key derived from the ENCRYPTION_KEY setting.

Sealed layout: format byte | 96-bit random nonce | ciphertext | 128-bit tag. Format 0x02, the one sealed today,
authenticates the format byte followed by the key id as associated data: a sealed value copied into another key's
row does not open, and the format byte cannot be swapped. Format 0x01 predates that binding (its associated data
is the format byte alone); it still opens so that old databases keep working, and `memo keys reseal` rewrites it
as 0x02. The setting is any string; HKDF-SHA256 with a fixed label turns it into the AES key, so the same setting
never yields the same key for another purpose. Random nonces are safe here: a key seals a few secrets, far below
the 2**32 messages where 96-bit random nonces start to risk a collision.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from memo.application.ports import SecretBox
from memo.domain.errors import SecretUnreadable

FORMAT_V1 = b"\x01"  # unbound: opened only, never sealed
FORMAT_V2 = b"\x02"  # bound to the key id
NONCE_BYTES = 12
TAG_BYTES = 16
HKDF_SALT = b"memo"
HKDF_INFO = b"memo/api-key-secrets/aes-256-gcm/v1"


def generate_encryption_key() -> str:
    """A fresh ENCRYPTION_KEY: 32 random bytes as unpadded URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def _derive(encryption_key: str) -> AESGCM:
    if not encryption_key:
        raise ValueError("ENCRYPTION_KEY must not be empty")
    key = HKDF(algorithm=SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(encryption_key.encode())
    return AESGCM(key)


def _associated_data(version: bytes, key_id: str) -> bytes:
    return version if version == FORMAT_V1 else version + key_id.encode()


class AesGcmSecretBox(SecretBox):
    """Seals with `encryption_key`; opens with it or any of `previous_keys`, so the key can be rotated."""

    def __init__(self, encryption_key: str, *, previous_keys: Sequence[str] = ()) -> None:
        self._sealer = _derive(encryption_key)
        self._openers = (self._sealer, *(_derive(key) for key in previous_keys))

    def seal(self, plaintext: bytes, *, key_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_V2 + nonce + self._sealer.encrypt(nonce, plaintext, _associated_data(FORMAT_V2, key_id))

    def open(self, sealed: bytes, *, key_id: str) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES:
            raise SecretUnreadable("it is too short to be a sealed secret")
        version = sealed[:1]
        if version not in {FORMAT_V1, FORMAT_V2}:
            raise SecretUnreadable("its format version is unknown")
        nonce, ciphertext = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        associated = _associated_data(version, key_id)
        for opener in self._openers:
            try:
                return opener.decrypt(nonce, ciphertext, associated)
            except InvalidTag:
                continue
        raise SecretUnreadable("it was sealed under another ENCRYPTION_KEY or for another key id, or altered")
