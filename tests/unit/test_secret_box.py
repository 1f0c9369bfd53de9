"""AesGcmSecretBox: a sealed secret opens only under the right key, for its own key id, and only untouched."""

from __future__ import annotations

import re

import pytest

from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.domain.errors import DomainError, SecretUnreadable
from tests.support.sealed_v1 import seal_as_format_1

KEY = "k3y-for-tests-0123456789abcdefghijklmnopqrstu"
OTHER_KEY = "another-key-0123456789abcdefghijklmnopqrstuvw"
SECRET = b"mk-secret-QWxhZGRpbjpvcGVuIHNlc2FtZQ"
KEY_ID = "mk_key-one-0001"
OTHER_KEY_ID = "mk_key-two-0002"


def test_a_sealed_secret_opens_to_the_same_bytes() -> None:
    box = AesGcmSecretBox(KEY)
    assert box.open(box.seal(SECRET, key_id=KEY_ID), key_id=KEY_ID) == SECRET


def test_another_box_with_the_same_key_opens_it() -> None:
    assert AesGcmSecretBox(KEY).open(AesGcmSecretBox(KEY).seal(SECRET, key_id=KEY_ID), key_id=KEY_ID) == SECRET


def test_an_empty_secret_round_trips() -> None:
    box = AesGcmSecretBox(KEY)
    assert box.open(box.seal(b"", key_id=KEY_ID), key_id=KEY_ID) == b""


def test_sealing_twice_gives_different_bytes_and_never_the_plaintext() -> None:
    box = AesGcmSecretBox(KEY)
    first, second = box.seal(SECRET, key_id=KEY_ID), box.seal(SECRET, key_id=KEY_ID)
    assert first != second
    assert SECRET not in first


def test_the_sealed_layout_is_format_2_nonce_ciphertext_tag() -> None:
    sealed = AesGcmSecretBox(KEY).seal(SECRET, key_id=KEY_ID)
    assert sealed[0] == 2
    assert len(sealed) == 1 + 12 + len(SECRET) + 16
    assert KEY_ID.encode() not in sealed  # bound as associated data, not stored


def test_a_secret_sealed_for_one_key_id_does_not_open_for_another() -> None:
    box = AesGcmSecretBox(KEY)
    moved = box.seal(SECRET, key_id=KEY_ID)  # as if copied into another key's row
    with pytest.raises(SecretUnreadable, match="another key id"):
        box.open(moved, key_id=OTHER_KEY_ID)


def test_the_format_byte_cannot_be_downgraded_to_shed_the_key_id_binding() -> None:
    box = AesGcmSecretBox(KEY)
    downgraded = b"\x01" + box.seal(SECRET, key_id=KEY_ID)[1:]
    for key_id in (KEY_ID, OTHER_KEY_ID):
        with pytest.raises(SecretUnreadable):
            box.open(downgraded, key_id=key_id)


def test_a_format_1_secret_sealed_before_the_binding_still_opens() -> None:
    old = seal_as_format_1(KEY, SECRET)
    assert AesGcmSecretBox(KEY).open(old, key_id=KEY_ID) == SECRET
    assert AesGcmSecretBox(OTHER_KEY, previous_keys=[KEY]).open(old, key_id=KEY_ID) == SECRET


def test_a_wrong_key_is_secret_unreadable_and_says_nothing_of_the_keys() -> None:
    sealed = AesGcmSecretBox(KEY).seal(SECRET, key_id=KEY_ID)
    with pytest.raises(SecretUnreadable) as unreadable:
        AesGcmSecretBox(OTHER_KEY).open(sealed, key_id=KEY_ID)
    assert unreadable.value.code == "SECRET_UNREADABLE"
    assert isinstance(unreadable.value, DomainError)
    assert "ENCRYPTION_KEY" in unreadable.value.message
    for leak in (KEY, OTHER_KEY, sealed.hex(), repr(sealed), SECRET.decode()):
        assert leak not in str(unreadable.value)


def test_changing_any_byte_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    sealed = box.seal(SECRET, key_id=KEY_ID)
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(SecretUnreadable):
            box.open(bytes(tampered), key_id=KEY_ID)


@pytest.mark.parametrize("sealed", [b"", b"\x02", b"\x02" + b"\x00" * 27])
def test_truncated_data_is_secret_unreadable(sealed: bytes) -> None:
    with pytest.raises(SecretUnreadable, match="too short"):
        AesGcmSecretBox(KEY).open(sealed, key_id=KEY_ID)


def test_dropping_the_last_byte_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    with pytest.raises(SecretUnreadable):
        box.open(box.seal(SECRET, key_id=KEY_ID)[:-1], key_id=KEY_ID)


def test_an_unknown_format_version_is_secret_unreadable() -> None:
    box = AesGcmSecretBox(KEY)
    with pytest.raises(SecretUnreadable, match="version"):
        box.open(b"\x03" + box.seal(SECRET, key_id=KEY_ID)[1:], key_id=KEY_ID)


def test_a_rotated_box_still_opens_what_the_previous_key_sealed() -> None:
    old_sealed = AesGcmSecretBox(KEY).seal(SECRET, key_id=KEY_ID)
    rotated = AesGcmSecretBox(OTHER_KEY, previous_keys=[KEY])
    assert rotated.open(old_sealed, key_id=KEY_ID) == SECRET
    new_sealed = rotated.seal(SECRET, key_id=KEY_ID)
    assert AesGcmSecretBox(OTHER_KEY).open(new_sealed, key_id=KEY_ID) == SECRET  # new seals use the new key
    with pytest.raises(SecretUnreadable):
        AesGcmSecretBox(KEY).open(new_sealed, key_id=KEY_ID)


def test_an_empty_encryption_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        AesGcmSecretBox("")


def test_generated_keys_are_long_url_safe_and_fresh() -> None:
    keys = {generate_encryption_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(key) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", key) for key in keys)


def test_a_generated_key_seals_and_opens() -> None:
    box = AesGcmSecretBox(generate_encryption_key())
    assert box.open(box.seal(SECRET, key_id=KEY_ID), key_id=KEY_ID) == SECRET
