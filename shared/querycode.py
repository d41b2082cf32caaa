"""Query codes (查询码): 8 characters without look-alikes, stored only as a slow scrypt hash
with a per-case random salt, encoded ``scrypt$N$r$p$salt$hash`` so the parameters travel too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from shared.settings import QUERY_CODE_SCRYPT_N

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
LENGTH = 8
_R, _P = 8, 1


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_code(code: str, *, salt: bytes | None = None, n: int = QUERY_CODE_SCRYPT_N) -> str:
    """``n`` is scrypt's work factor (XINFANG_QUERY_CODE_SCRYPT_N); it is kept in the result."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(normalize(code).encode(), salt=salt, n=n, r=_R, p=_P, dklen=32)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify(code: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            normalize(code).encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


def well_formed(code: str) -> bool:
    c = normalize(code)
    return len(c) == LENGTH and all(ch in ALPHABET for ch in c)
