"""What the offline checks of deploy/ share: paths, YAML loading, the ``xinfang`` command line,
and finding a validation tool (missing: skip, or fail under ``CI=true``)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: The long-running processes, each `xinfang serve NAME --port PORT`.
PORTS = {"gateway": 8000, "intake": 8001, "routing": 8002, "tracking": 8003, "evaluation": 8004}
SERVICES = ("intake", "routing", "tracking", "evaluation")

#: Environment variable names whose value is a secret: never written into a manifest or
#: compose file as a literal, always taken from a Secret (or compose's .env).
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|TOKENS|_KEY|_KEYS|DATABASE_URL|_DSN)$")
#: A URL that carries credentials: scheme://user:password@host
CREDENTIALS_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)


def tool(name: str) -> Path:
    """The executable ``name`` from this virtualenv (where the dev extra installs it), else
    from PATH. Missing: the test skips, and under CI=true fails."""
    here = Path(sys.executable).parent / name
    found = here if here.exists() else (Path(p) if (p := shutil.which(name)) else None)
    if found is None:
        message = f"{name} is not installed (pip install -e '.[dev]', or the machine's package)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return found


def load_all(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def k8s_files() -> list[Path]:
    """Every manifest file under deploy/k8s except the kustomization itself."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) of every Kubernetes object under deploy/k8s."""
    return [(path.name, doc) for path in k8s_files() for doc in load_all(path)]


def cli_args(argv: list[str]) -> argparse.Namespace | str:
    """``argv`` parsed by the real ``xinfang`` parser (services/cli.py): the namespace, or the
    parser's error message when the command line is not one it accepts."""
    from services.cli import parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser().parse_args(argv)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "rejected"
