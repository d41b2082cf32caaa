"""Tracking service: ``uvicorn tracking.main:app`` (or ``xinfang serve tracking``)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.lookup import QueryCodeGate
from shared.service import create_service_app
from shared.settings import service_settings
from tracking import actions
from tracking.api import router
from tracking.handlers import handlers
from tracking.models import messaging
from tracking.receptions_api import router as receptions_router
from tracking.scheduler import background as clock_scheduler
from tracking.supervision_api import router as supervision_router
from tracking.webhooks import delivery_loop
from tracking.webhooks_api import router as webhooks_router


def create_app() -> FastAPI:
    settings = service_settings("tracking")
    app = create_service_app(
        name="tracking",
        settings=settings,
        tables=messaging,
        package="tracking",
        routers=[router, actions.router, webhooks_router, supervision_router, receptions_router],
        handlers=handlers(settings),
        consumes=["intake", "routing"],
        title="Xinfang tracking",
        background=[delivery_loop(settings), clock_scheduler(settings)],
    )
    app.state.gate = QueryCodeGate(settings.query_code_rate_per_minute)
    return app


app = create_app()
