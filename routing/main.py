"""Routing service: ``uvicorn routing.main:app`` (or ``xinfang serve routing``)."""

from __future__ import annotations

from fastapi import FastAPI

from routing import directory_admin, directory_api
from routing.api import cases_router, router
from routing.handlers import Jurisdiction, handlers
from routing.models import messaging
from routing.units import seed
from shared.db import Database
from shared.service import create_service_app
from shared.settings import service_settings


def create_app() -> FastAPI:
    settings = service_settings("routing")
    jurisdiction = Jurisdiction()

    async def start(db: Database) -> None:
        await seed(db)
        await jurisdiction.load(db)

    app = create_service_app(
        on_start=start,
        name="routing",
        settings=settings,
        tables=messaging,
        package="routing",
        routers=[router, cases_router, directory_admin.router, directory_api.router],
        handlers=handlers(settings, jurisdiction),
        consumes=["intake", "tracking"],
        background=[lambda db: jurisdiction.follow(db, settings.directory_refresh_seconds)],
        title="Xinfang routing",
    )
    app.state.jurisdiction = jurisdiction
    return app


app = create_app()
