"""Alembic, one migration history per service, applied programmatically at start-up or by
``xinfang migrate``. Each service's ``migrations/env.py`` calls :func:`run_env`."""

from __future__ import annotations

import hashlib

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from shared.db import Database


def alembic_config(package: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    return cfg


async def upgrade(db: Database, package: str, revision: str = "head") -> None:
    cfg = alembic_config(package)
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # Replicas starting together: one migrates, the others wait and find it done.
            key = int.from_bytes(hashlib.sha256(package.encode()).digest()[:8], "big", signed=True)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        await conn.run_sync(_run, cfg, revision)


def head_revision(package: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(package)).get_current_head()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()


def _run(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def run_env(metadata: MetaData) -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `xinfang migrate`, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
