"""Production identity: tokens signed by an issuer whose keys are published as a JWKS, fetched
over HTTP from a real (local) server, cached, and followed through a key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import verify_token
from shared.errors import Unauthorized, Unavailable
from shared.settings import CommonSettings

ISSUER, AUDIENCE = "https://id.example.gov.cn", "xinfang-api"


class Issuer:
    """An identity provider: RSA keys, the JWKS it publishes, and the tokens it signs."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                issuer.fetches += 1
                body = json.dumps({"keys": [issuer.jwk(kid) for kid in issuer.published]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def new_key(self) -> str:
        kid = uuid.uuid4().hex[:8]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def jwk(self, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, kid: str, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "sub": "op-7",
            "role": "operator",
            "region_code": "330000",
        } | over
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    it = Issuer()
    yield it
    it.server.shutdown()
    it.server.server_close()


def settings_for(url: str, refetch: float = 30) -> CommonSettings:
    return CommonSettings(
        jwt_jwks_url=url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_refetch_seconds=refetch,
    )


def test_a_token_of_the_issuer_is_verified_with_its_published_key(issuer: Issuer) -> None:
    kid = issuer.new_key()
    issuer.published = [kid]
    settings = settings_for(issuer.url)
    principal = verify_token(settings, issuer.token(kid))
    assert (principal.sub, principal.role, principal.region_code) == ("op-7", "operator", "330000")
    for _ in range(5):
        verify_token(settings, issuer.token(kid, sub="op-8"))
    assert issuer.fetches == 1  # the key set is cached


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"aud": "another-api"}, "audience"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_audience_issuer_expiry_and_role_are_checked(
    issuer: Issuer, over: dict[str, Any], words: str
) -> None:
    kid = issuer.new_key()
    issuer.published = [kid]
    with pytest.raises(Unauthorized) as refused:
        verify_token(settings_for(issuer.url), issuer.token(kid, **over))
    assert words in refused.value.detail.lower()


def test_a_token_signed_by_an_unpublished_key_or_a_shared_secret_is_refused(
    issuer: Issuer,
) -> None:
    published, stranger = issuer.new_key(), issuer.new_key()
    issuer.published = [published]
    settings = settings_for(issuer.url)
    with pytest.raises(Unauthorized):
        verify_token(settings, issuer.token(stranger))
    # the development secret means nothing once a key set is configured, and the published
    # public key cannot serve as an HMAC secret (the algorithm-confusion attack)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "sub": "x"}
    claims["role"] = "operator"
    dev = jwt.encode(claims, settings.jwt_secret.get_secret_value(), headers={"kid": published})
    public_pem = (
        issuer.keys[published]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for forged in (dev, hs256(claims, public_pem, published)):
        with pytest.raises(Unauthorized):
            verify_token(settings, forged)


def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """A token signed HS256 by hand (PyJWT itself refuses a public key as an HMAC secret)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{part(mac)}"


def test_a_rotated_key_is_taken_without_a_restart_and_the_retired_one_refused(
    issuer: Issuer,
) -> None:
    old = issuer.new_key()
    issuer.published = [old]
    settings = settings_for(issuer.url, refetch=0)  # (the refetch limit has its own test)
    assert verify_token(settings, issuer.token(old)).sub == "op-7"
    new = issuer.new_key()
    issuer.published = [new]  # the issuer rotates: the old key is withdrawn
    assert verify_token(settings, issuer.token(new, sub="op-9")).sub == "op-9"
    assert issuer.fetches == 2  # the unknown key id fetched the set again, once
    with pytest.raises(Unauthorized):
        verify_token(settings, issuer.token(old))


def test_tokens_with_unknown_key_ids_refetch_the_set_once_per_period(issuer: Issuer) -> None:
    kid = issuer.new_key()
    issuer.published = [kid]
    settings = settings_for(issuer.url)
    verify_token(settings, issuer.token(kid))
    made_up = issuer.new_key()  # signed by a key the issuer never published
    for _ in range(20):
        with pytest.raises(Unauthorized):
            verify_token(settings, issuer.token(made_up))
    assert issuer.fetches <= 2  # not one fetch per request
    assert verify_token(settings, issuer.token(kid)).role == "operator"


def test_an_unreachable_issuer_is_a_503_not_a_401(issuer: Issuer) -> None:
    kid = issuer.new_key()
    url = issuer.url
    issuer.server.shutdown()
    issuer.server.server_close()
    with pytest.raises(Unavailable) as down:
        verify_token(settings_for(url.replace("jwks", "jwks-down")), issuer.token(kid))
    assert down.value.status == 503
