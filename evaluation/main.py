"""Evaluation service: ``uvicorn evaluation.main:app`` (or ``xinfang serve evaluation``)."""

from __future__ import annotations

from fastapi import FastAPI

from evaluation.analytics_api import router as analytics_router
from evaluation.api import router
from evaluation.callbacks_api import router as callbacks_router
from evaluation.handlers import consumed
from evaluation.models import messaging
from evaluation.rating_scheduler import background as rating_scheduler
from evaluation.ratings_api import router as ratings_router
from evaluation.sweeper import background as backlog_sweeper
from shared.lookup import QueryCodeGate
from shared.service import create_service_app
from shared.settings import service_settings


def create_app() -> FastAPI:
    settings = service_settings("evaluation")
    app = create_service_app(
        name="evaluation",
        settings=settings,
        tables=messaging,
        package="evaluation",
        routers=[router, ratings_router, callbacks_router, analytics_router],
        handlers=consumed(settings),
        consumes=["intake", "tracking", "evaluation"],  # its own: ratings, warnings
        title="Xinfang evaluation",
        background=[rating_scheduler(settings), backlog_sweeper(settings)],
    )
    app.state.gate = QueryCodeGate(settings.query_code_rate_per_minute)
    return app


app = create_app()
