"""Tracking service: ``uvicorn tracking.main:app`` (or ``xinfang serve tracking``)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.lookup import QueryCodeGate
from shared.service import create_service_app
from shared.settings import service_settings
from tracking.api import router
from tracking.handlers import handlers
from tracking.models import messaging


def create_app() -> FastAPI:
    settings = service_settings("tracking")
    app = create_service_app(
        name="tracking",
        settings=settings,
        tables=messaging,
        package="tracking",
        routers=[router],
        handlers=handlers(settings),
        consumes=["intake", "routing"],
        title="Xinfang tracking",
    )
    app.state.gate = QueryCodeGate(settings.query_code_rate_per_minute)
    return app


app = create_app()
