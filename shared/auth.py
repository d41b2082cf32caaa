"""Bearer JWTs: minted locally in development, verified by every service itself.

Claims: ``iss``, ``aud`` (``xinfang-api``), ``exp``, ``sub``, ``role`` and, where the role
needs them, ``unit_id`` and ``region_code``. Production verifies the issuer's keys (JWKS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request

from shared.errors import Forbidden, Unauthorized, Unavailable
from shared.settings import CommonSettings

Role = Literal["petitioner", "unit", "operator", "grid_worker", "service"]
ROLES: tuple[str, ...] = ("petitioner", "unit", "operator", "grid_worker", "service")


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    unit_id: str | None = None
    region_code: str | None = None


def mint_token(
    settings: CommonSettings,
    *,
    role: str,
    sub: str,
    unit_id: str | None = None,
    region_code: str | None = None,
    ttl_seconds: int = 86400,
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "unit" and not unit_id:
        raise ValueError("a unit token needs a unit id")
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "sub": sub,
        "role": role,
    }
    if unit_id:
        claims["unit_id"] = unit_id
    if region_code:
        claims["region_code"] = region_code
    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )


# Asymmetric only: with a key set, a token signed with a shared secret (HS256) is refused, so
# a published public key can never serve as an HMAC secret (algorithm confusion).
JWKS_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@lru_cache(maxsize=4)
def _jwks(url: str, lifespan: float, timeout: float, cooldown: float) -> jwt.PyJWKClient:
    """The issuer's key set, cached ``lifespan`` seconds; an unknown key id refetches it (at
    most once per ``cooldown`` seconds), so rotated keys are taken without a restart."""
    # cache_keys stays off: its per-key cache would keep honouring a key the issuer withdrew
    return jwt.PyJWKClient(url, lifespan=lifespan, timeout=timeout, cooldown_duration=cooldown)


def verify_token(settings: CommonSettings, token: str) -> Principal:
    """The principal of a valid token; Unauthorized (401) otherwise, Unavailable (503) when
    the issuer's key set cannot be fetched. Blocks while it fetches the key set: call it
    from a thread (FastAPI runs the sync dependencies below in its thread pool)."""
    try:
        if settings.jwt_jwks_url:
            keys = _jwks(
                settings.jwt_jwks_url,
                settings.jwt_jwks_cache_seconds,
                settings.jwt_jwks_timeout_seconds,
                settings.jwt_jwks_refetch_seconds,
            )
            key = keys.get_signing_key_from_jwt(token).key
            algorithms = JWKS_ALGORITHMS
        else:
            key = settings.jwt_secret.get_secret_value()
            algorithms = [settings.jwt_algorithm]
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the bearer token has expired") from exc
    except jwt.PyJWKClientConnectionError as exc:
        raise Unavailable("the identity provider's keys cannot be fetched; retry later") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the bearer token is invalid: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized("the bearer token has no valid role claim")
    if role == "unit" and not claims.get("unit_id"):
        raise Unauthorized("a unit token must carry a unit_id claim")
    return Principal(
        sub=str(claims["sub"]),
        role=role,
        unit_id=claims.get("unit_id"),
        region_code=claims.get("region_code"),
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def optional_principal(request: Request) -> Principal | None:
    token = _bearer(request)
    if token is None:
        return None
    return verify_token(request.app.state.settings, token)


def required_principal(request: Request) -> Principal:
    principal = optional_principal(request)
    if principal is None:
        raise Unauthorized("a bearer token is required")
    return principal


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    def check(principal: Annotated[Principal, Depends(required_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}")
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(required_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
