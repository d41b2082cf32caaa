"""Personal data: AES-GCM encryption at rest with a key id for rotation, keyed HMAC for
matching without clear text, and masking for display and for text that leaves intake."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class PiiCipher:
    """Encrypts to ``<key id>:<nonce b64>:<ciphertext b64>``; decrypts with any known key."""

    def __init__(self, key_id: str, key_b64: str, old_keys: dict[str, str] | None = None) -> None:
        self.key_id = key_id
        self._keys = {kid: _key(k) for kid, k in (old_keys or {}).items()}
        self._keys[key_id] = _key(key_b64)

    def encrypt(self, clear: str | None, *, context: str) -> str | None:
        if clear is None:
            return None
        nonce = os.urandom(12)
        ct = AESGCM(self._keys[self.key_id]).encrypt(nonce, clear.encode(), context.encode())
        return f"{self.key_id}:{_b64(nonce)}:{_b64(ct)}"

    def decrypt(self, token: str | None, *, context: str) -> str | None:
        if token is None:
            return None
        key_id, nonce, ct = token.split(":")
        return (
            AESGCM(self._keys[key_id]).decrypt(_unb64(nonce), _unb64(ct), context.encode()).decode()
        )


def _key(key_b64: str) -> bytes:
    raw = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
    if len(raw) != 32:
        raise ValueError("XINFANG_PII_KEY must be 32 bytes, URL-safe base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 of a normalised value: equal inputs match, nobody can reverse it."""
    return hmac.new(key.encode(), value.strip().upper().encode(), hashlib.sha256).hexdigest()


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    name = name.strip()
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id_number(value: str) -> str:
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:]


_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


_DIVISION = re.compile(r"^.*(?:省|自治区|市|自治州|地区|盟|区|县|旗|镇|乡|街道)")


def address_detail(address: str) -> str:
    """The street-level part of an address, after its last administrative division:
    ``北京市石景山区幸福路88号`` -> ``幸福路88号``. Region names alone identify nobody."""
    detail = _DIVISION.sub("", address.strip())
    return detail if len(detail) >= 3 else address.strip()


def scrub_text(
    text: str,
    *,
    names: list[str | None] = (),  # type: ignore[assignment]
    id_numbers: list[str | None] = (),  # type: ignore[assignment]
    phones: list[str | None] = (),  # type: ignore[assignment]
    addresses: list[str | None] = (),  # type: ignore[assignment]
) -> str:
    """Mask the petitioner's own identity values, and any ID or mobile number, in free text."""
    masks: dict[str, str] = {}
    for v in filter(None, id_numbers):
        masks[v] = mask_id_number(v)
        masks[v.lower()] = mask_id_number(v)
    for v in filter(None, phones):
        masks[v] = mask_phone(v) if len(v) >= 8 else "*" * len(v)
    for v in filter(None, addresses):
        for part in {v.strip(), address_detail(v)}:
            masks[part] = mask_name(part) or ""
    for v in filter(None, names):
        if len(v.strip()) >= 2:
            masks[v.strip()] = mask_name(v) or ""
    for value in sorted(masks, key=len, reverse=True):
        text = text.replace(value, masks[value])
    text = _ID_RE.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group()), text)
