"""Routing service: ``uvicorn routing.main:app`` (or ``xinfang serve routing``)."""

from __future__ import annotations

from fastapi import FastAPI

from routing import directory_api
from routing.api import router
from routing.handlers import handlers
from routing.models import messaging
from routing.units import seed
from shared.service import create_service_app
from shared.settings import service_settings


def create_app() -> FastAPI:
    settings = service_settings("routing")
    return create_service_app(
        on_start=seed,
        name="routing",
        settings=settings,
        tables=messaging,
        package="routing",
        routers=[router, directory_api.router],
        handlers=handlers(settings),
        consumes=["intake"],
        title="Xinfang routing",
    )


app = create_app()
