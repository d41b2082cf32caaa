"""Evaluation service: ``uvicorn evaluation.main:app`` (or ``xinfang serve evaluation``)."""

from __future__ import annotations

from fastapi import FastAPI

from evaluation.api import router
from evaluation.handlers import handlers
from evaluation.models import messaging
from shared.service import create_service_app
from shared.settings import service_settings


def create_app() -> FastAPI:
    settings = service_settings("evaluation")
    return create_service_app(
        name="evaluation",
        settings=settings,
        tables=messaging,
        package="evaluation",
        routers=[router],
        handlers=handlers(settings),
        consumes=["tracking"],
        title="Xinfang evaluation",
    )


app = create_app()
