"""Intake service: ``uvicorn intake.main:app`` (or ``xinfang serve intake``)."""

from __future__ import annotations

from fastapi import FastAPI

from intake import vault
from intake.api import router
from intake.channels_api import router as channels_router
from intake.classify import rules
from intake.handlers import handlers
from intake.models import messaging
from shared.lookup import QueryCodeGate
from shared.pii import PiiCipher
from shared.regions import RegionDirectory
from shared.service import create_service_app
from shared.settings import service_settings


def create_app() -> FastAPI:
    settings = service_settings("intake")
    # Load the region directory and the classification rules now, not on the first petition.
    RegionDirectory.default().resolve("北京市")
    rules()
    app = create_service_app(
        handlers=handlers(settings),
        consumes=["tracking"],
        name="intake",
        settings=settings,
        tables=messaging,
        package="intake",
        routers=[router, channels_router, vault.router],
        title="Xinfang intake",
    )
    app.state.cipher = PiiCipher(
        settings.pii_key_id,
        settings.pii_key.get_secret_value(),
        old_keys={kid: key.get_secret_value() for kid, key in settings.pii_old_keys.items()},
    )
    app.state.gate = QueryCodeGate(settings.query_code_rate_per_minute)
    return app


app = create_app()
