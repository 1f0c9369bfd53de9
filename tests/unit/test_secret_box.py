"""AesGcmSecretBox: a sealed secret opens only under the right key and only untouched; keys generate and rotate."""

from __future__ import annotations

import re

import pytest

from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.domain.errors import DomainError, SecretUnreadable

KEY = "k3y-for-tests-0123456789abcdefghijklmnopqrstu"
OTHER_KEY = "another-key-0123456789abcdefghijklmnopqrstuvw"
SECRET = b"mk-secret-QWxhZGRpbjpvcGVuIHNlc2FtZQ"


def test_a_sealed_secret_opens_to_the_same_bytes() -> None:
    box = AesGcmSecretBox(KEY)
    assert box.open(box.seal(SECRET)) == SECRET


def test_another_box_with_the_same_key_opens_it() -> None:
    assert AesGcmSecretBox(KEY).open(AesGcmSecretBox(KEY).seal(SECRET)) == SECRET


def test_an_empty_secret_round_trips() -> None:
    box = AesGcmSecretBox(KEY)
    assert box.open(box.seal(b"")) == b""


def test_sealing_twice_gives_different_bytes_and_never_the_plaintext() -> None:
    box = AesGcmSecretBox(KEY)
    first, second = box.seal(SECRET), box.seal(SECRET)
    assert first != second
    assert SECRET not in first


def test_the_sealed_layout_is_version_nonce_ciphertext_tag() -> None:
    sealed = AesGcmSecretBox(KEY).seal(SECRET)
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + len(SECRET) + 16


def test_a_wrong_key_is_secret_unreadable() -> None:
    sealed = AesGcmSecretBox(KEY).seal(SECRET)
    with pytest.raises(SecretUnreadable) as unreadable:
        AesGcmSecretBox(OTHER_KEY).open(sealed)
    assert unreadable.value.code == "SECRET_UNREADABLE"
    assert isinstance(unreadable.value, DomainError)
    assert "ENCRYPTION_KEY" in unreadable.value.message
    assert KEY not in str(unreadable.value)
    assert OTHER_KEY not in str(unreadable.value)


def test_changing_any_byte_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    sealed = box.seal(SECRET)
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(SecretUnreadable):
            box.open(bytes(tampered))


@pytest.mark.parametrize("sealed", [b"", b"\x01", b"\x01" + b"\x00" * 27])
def test_truncated_data_is_secret_unreadable(sealed: bytes) -> None:
    with pytest.raises(SecretUnreadable, match="too short"):
        AesGcmSecretBox(KEY).open(sealed)


def test_dropping_the_last_byte_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    with pytest.raises(SecretUnreadable):
        box.open(box.seal(SECRET)[:-1])


def test_an_unknown_format_version_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    with pytest.raises(SecretUnreadable, match="version"):
        box.open(b"\x02" + box.seal(SECRET)[1:])


def test_a_rotated_box_still_opens_what_the_previous_key_sealed() -> None:
    old_sealed = AesGcmSecretBox(KEY).seal(SECRET)
    rotated = AesGcmSecretBox(OTHER_KEY, previous_keys=[KEY])
    assert rotated.open(old_sealed) == SECRET
    assert AesGcmSecretBox(OTHER_KEY).open(rotated.seal(SECRET)) == SECRET  # new seals use the new key
    with pytest.raises(SecretUnreadable):
        AesGcmSecretBox(KEY).open(rotated.seal(SECRET))


def test_an_empty_encryption_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        AesGcmSecretBox("")


def test_generated_keys_are_long_url_safe_and_fresh() -> None:
    keys = {generate_encryption_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(key) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", key) for key in keys)


def test_a_generated_key_seals_and_opens() -> None:
    box = AesGcmSecretBox(generate_encryption_key())
    assert box.open(box.seal(SECRET)) == SECRET
