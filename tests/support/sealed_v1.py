"""Secrets as Memo sealed them before sealing bound the key id, for the tests that old databases still work."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from memo.adapters.crypto.aesgcm import HKDF_INFO, HKDF_SALT


def seal_as_format_1(encryption_key: str, plaintext: bytes) -> bytes:
    """Format 0x01: the format byte is the only associated data, so the value is bound to no key id."""
    key = HKDF(algorithm=SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(encryption_key.encode())
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, b"\x01")
