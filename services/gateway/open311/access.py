"""Who an Open311 caller is, and the credentials the gateway uses upstream for it.

An API key names a client. Upstream, a client is the account ``open311:<client>``: it submits
with a ``service`` token (intake then makes that account the petition's owner, without taking
it for the petitioner in repeat matching) and follows its requests with a ``petitioner`` token
of the same subject, so tracking and intake themselves show a client only the petitions it
submitted, as their petitioner sees them. Tokens are minted with the local secret, or taken
from settings where an issuer signs them (JWKS).

The Open311 token a POST answers names the client and the tracking number, with a MAC keyed by
the client's API key: nobody without that key can forge one to probe for petitions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request

from services.gateway.open311.formats import Open311Error
from services.gateway.settings import GatewaySettings
from shared.auth import mint_token
from shared.tracking_number import is_valid

TOKEN_TTL_SECONDS = 300


def client_of(settings: GatewaySettings, api_key: str | None, action: str) -> str:
    """The client an API key names; the spec's 403 otherwise."""
    client = settings.open311_api_keys.get(api_key or "")
    if client is None:
        what = "Missing" if not api_key else "Invalid"
        raise Open311Error(403, f"{what} api_key received -- can't proceed with {action}.")
    return client


def subject(client: str) -> str:
    return f"open311:{client}"


def upstream_token(settings: GatewaySettings, client: str, role: str) -> str:
    """The ``service`` (submit) or ``petitioner`` (read) token of a client."""
    configured = (
        settings.open311_submit_tokens if role == "service" else settings.open311_read_tokens
    ).get(client)
    if configured is not None:
        return configured.get_secret_value()
    return mint_token(settings, role=role, sub=subject(client), ttl_seconds=TOKEN_TTL_SECONDS)


def _mac(api_key: str, client: str, number: str) -> str:
    digest = hmac.new(api_key.encode(), f"{client}|{number}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def make_token(api_key: str, client: str, number: str) -> str:
    return f"{client}.{number}.{_mac(api_key, client, number)}"


def read_token(settings: GatewaySettings, token: str) -> tuple[str, str]:
    """(client, tracking number) of a token made with any API key of its client; 404 else."""
    client, _, rest = token.partition(".")
    number, _, mac = rest.partition(".")
    keys = [k for k, c in settings.open311_api_keys.items() if c == client]
    if is_valid(number) and any(hmac.compare_digest(mac, _mac(k, client, number)) for k in keys):
        return client, number
    raise Open311Error(404, f"token '{token}' was not found")


def form_key(request: Request, form: list[tuple[str, str]]) -> str | None:
    """``api_key`` from the form, else from the query string (both are seen in the wild)."""
    for key, value in form:
        if key == "api_key" and value.strip():
            return value.strip()
    return request.query_params.get("api_key") or None
