"""Encryption of sensitive columns at rest (AES-256-GCM, the ``cryptography`` package).

A value is stored as the text ``gcm1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``:

* ``gcm1`` names the format, so an encrypted value is recognised by its prefix
  (a migration can tell old plain values from encrypted ones and is idempotent);
* the key id is the first 8 hex digits of SHA-256 of the key, so with several
  keys configured (rotation) the right one is picked without trial decryption;
* the nonce is 12 random bytes per value; the 16-byte tag authenticates it.

Each value is bound to a *context* (associated data, e.g. ``users.id_card:42``):
a ciphertext copied into another row or column does not decrypt there.

Keys are 32 random bytes in URL-safe base64 (:func:`generate_key`), given as
``IHOME_DATA_KEY``; several comma-separated keys mean "encrypt with the first,
decrypt with any", for rotation. Anything that cannot be decrypted — a wrong or
missing key, a damaged value — raises :class:`DataKeyError`: never a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "gcm1."
KEY_BYTES = 32
NONCE_BYTES = 12


class DataKeyError(Exception):
    """A value cannot be decrypted with the configured keys (wrong key, unknown key id, damaged value)."""


def generate_key() -> str:
    """A new random key: 32 bytes in URL-safe base64 (44 characters)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_keys(raw: str) -> list[bytes]:
    """The keys in *raw* (comma-separated URL-safe base64, 32 bytes each), first = current.

    Raises ValueError naming the problem (empty, not base64, wrong length).
    """
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not parts:
        raise ValueError("no data key given")
    keys = []
    for index, part in enumerate(parts, 1):
        try:
            key = base64.b64decode(part.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError(f"data key {index} is not URL-safe base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"data key {index} is {len(key)} bytes, not {KEY_BYTES}")
        keys.append(key)
    return keys


def key_id(key: bytes) -> str:
    """The 8-hex-digit id of *key* written into every value it encrypts."""
    return hashlib.sha256(key).hexdigest()[:8]


def is_encrypted(value: str | None) -> bool:
    """True when *value* is in this module's format (it may still fail to decrypt)."""
    return isinstance(value, str) and value.startswith(PREFIX)


class FieldCipher:
    """Encrypts and decrypts short text values; *keys* as for :func:`parse_keys` (a str) or raw bytes.

    Raises ValueError at construction for malformed keys.
    """

    def __init__(self, keys: str | Iterable[bytes]):
        key_list = parse_keys(keys) if isinstance(keys, str) else list(keys)
        if not key_list:
            raise ValueError("no data key given")
        self._by_id = {key_id(k): AESGCM(k) for k in key_list}
        self.current_id = key_id(key_list[0])
        self._current = self._by_id[self.current_id]

    def encrypt(self, plaintext: str, context: str) -> str:
        """*plaintext* (UTF-8 text) encrypted under the current key and bound to *context*."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{self.current_id}.{body}"

    def decrypt(self, value: str, context: str) -> str:
        """The plaintext of *value* made by :meth:`encrypt` with the same *context*.

        Raises :class:`DataKeyError` when the value is not in this format, was made
        with a key that is not configured, does not authenticate (wrong key or
        context, or altered), or is not UTF-8.
        """
        if not is_encrypted(value):
            raise DataKeyError("not an encrypted value")
        try:
            kid, body = value[len(PREFIX):].split(".", 1)
        except ValueError:
            raise DataKeyError("malformed encrypted value") from None
        aead = self._by_id.get(kid)
        if aead is None:
            raise DataKeyError(f"value was encrypted with key {kid}, which is not in IHOME_DATA_KEY")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
            return plain.decode("utf-8")
        except (binascii.Error, InvalidTag, UnicodeDecodeError, ValueError):
            raise DataKeyError(f"value under key {kid} does not decrypt: wrong key or damaged value") from None

    def is_current(self, value: str | None) -> bool:
        """True when *value* is encrypted under the current (first) key."""
        return is_encrypted(value) and value[len(PREFIX):].startswith(self.current_id + ".")
