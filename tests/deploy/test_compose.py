"""deploy/compose.yaml, offline. `docker compose config` needs the compose plugin, which this
machine does not have (and nothing here can start it: no Docker engine), so instead:

- the file, as written and with its ${...} filled in the way compose fills them, is validated
  against the Compose Specification's JSON schema that check-jsonschema vendors
  (`--builtin-schema vendor.compose-spec`);
- plain Python checks what the schema cannot: the commands are ones `xinfang` accepts, health
  checks, the start order, the one published port, one database per service (created by
  deploy/postgres/init-databases.sql), secrets only from deploy/.env, and every variable the
  file needs present in deploy/.env.example.

Each check is a function returning the problems it finds, fed a broken copy too."""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy._support import (
    CREDENTIALS_IN_URL,
    DEPLOY,
    PORTS,
    ROOT,
    SECRET_NAME,
    SERVICES,
    cli_args,
    tool,
)

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
INIT_SQL = DEPLOY / "postgres" / "init-databases.sql"
Model = dict[str, Any]

#: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


# -- reading the file the way compose does -------------------------------------------------------


def raw_model() -> Model:
    """The file as YAML (anchors and `<<` merges resolved, ${...} left as written)."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    """The KEY=value lines of deploy/.env.example (commented ones are not set)."""
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip(), f".env.example: not KEY=value: {line!r}"
            pairs[key] = value
    return pairs


def filled_env() -> dict[str, str]:
    """.env.example with every empty value filled in, as the file asks its reader to."""
    return {
        k: v or f"{k.lower()}-0123456789abcdef0123456789abcdef" for k, v in env_example().items()
    }


def interpolate_text(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        unset_or_empty = not value if op and op.startswith(":") else value is None
        if op in (":-", "-"):
            return arg if unset_or_empty else value or ""
        if op in (":?", "?"):
            if unset_or_empty:
                raise ValueError(f"required variable {name} is missing a value: {arg}")
            return value or ""
        if op in (":+", "+"):
            return "" if unset_or_empty else arg
        return value or ""

    parts = text.split("$$")  # an escaped dollar is left alone
    parts = [BARE.sub(lambda m: env.get(m.group(1), ""), REFERENCE.sub(one, p)) for p in parts]
    return "$".join(parts)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, str):
        return interpolate_text(node, env)
    return node


def model(env: dict[str, str] | None = None) -> Model:
    """What `docker compose config` would work from: the file with deploy/.env applied
    (here .env.example, filled in)."""
    return interpolate(raw_model(), filled_env() if env is None else env)


def environment(service: Model) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: Model) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (d or {}).get("condition", "service_started") for name, d in deps.items()}


def commands(service: Model) -> list[list[str]] | None:
    """The `xinfang` command lines a service runs (argv after `xinfang`), or None when it does
    not run the image's entrypoint at all."""
    command = service.get("command", [])
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    entrypoint = service.get("entrypoint")
    if entrypoint is None:
        return [argv]
    if entrypoint in (["/bin/sh", "-c"], ["sh", "-c"]) and len(argv) == 1:
        runs = []
        for part in argv[0].split("&&"):
            words = shlex.split(part)
            if not words or words[0] != "xinfang":
                return None
            runs.append(words[1:])
        return runs
    return None


def xinfang_services(m: Model) -> dict[str, Model]:
    image = m["services"]["init"]["image"]
    return {n: s for n, s in m["services"].items() if s.get("image") == image}


def health_target(service: Model) -> tuple[int, str] | None:
    """(port, path) of an HTTP health check on localhost."""
    test = service.get("healthcheck", {}).get("test", [])
    found = re.search(
        r"127\.0\.0\.1:(\d+)(/\w+)", " ".join(test) if isinstance(test, list) else test
    )
    return (int(found.group(1)), found.group(2)) if found else None


# -- the checks ------------------------------------------------------------------------------------


def command_problems(m: Model) -> list[str]:
    problems = []
    ours = xinfang_services(m)
    if set(ours) != {"init", *PORTS}:
        problems.append(f"services running the xinfang image: {sorted(ours)}")
    one_shots = []
    for name, service in ours.items():
        runs = commands(service)
        if runs is None:
            problems.append(f"{name}: does not run `xinfang ...`")
            continue
        parsed = []
        for argv in runs:
            args = cli_args(argv)
            if isinstance(args, str):
                problems.append(f"{name}: `xinfang {' '.join(argv)}`: {args}")
            else:
                parsed.append(args)
        serving = [a for a in parsed if a.command == "serve"]
        healthcheck = service.get("healthcheck", {})
        if serving:
            (args,) = serving
            if args.service != name:
                problems.append(f"{name}: serves {args.service}")
            if healthcheck.get("disable") or health_target(service) != (args.port, "/readyz"):
                problems.append(f"{name}: no health check on /readyz at port {args.port}")
        elif parsed:
            one_shots.append(name)
            if service.get("restart", "no") != "no":
                problems.append(f"{name}: a one-shot command restarts ({service['restart']})")
            if not healthcheck.get("disable"):
                problems.append(f"{name}: a one-shot command with a health check")
    if one_shots != ["init"]:
        problems.append(f"one-shot services: {one_shots}, expected init alone")
    elif [a[0] for a in commands(ours["init"]) or []] != ["migrate", "topics"]:
        problems.append("init: does not run `migrate` then `topics create`")
    for name, service in m["services"].items():
        if name not in ours and not service.get("healthcheck", {}).get("test"):
            problems.append(f"{name}: no health check")
    return problems


def order_problems(m: Model) -> list[str]:
    """depends_on: targets exist, no cycle, and every process waits for `init` to complete
    (which waits for healthy Kafka and PostgreSQL) before it starts."""
    problems = []
    services = m["services"]
    graph = {name: depends_on(s) for name, s in services.items()}
    for name, deps in graph.items():
        for dep, condition in deps.items():
            if dep not in services:
                problems.append(f"{name}: depends on {dep}, which is not a service")
            elif condition == "service_started":
                problems.append(f"{name}: starts when {dep} has merely started")
            elif (condition == "service_completed_successfully") != (dep == "init"):
                problems.append(f"{name}: waits for {dep} with {condition}")
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "open":
            problems.append("depends_on cycle: " + " -> ".join([*path, name]))
        elif state.get(name) is None:
            state[name] = "open"
            for dep in graph.get(name, {}):
                visit(dep, [*path, name])
            state[name] = "done"

    for name in graph:
        visit(name, [])

    def closure(name: str, seen: set[str]) -> set[str]:
        for dep in graph.get(name, {}):
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    for name in PORTS:
        if name in services and "init" not in closure(name, set()):
            problems.append(f"{name}: may start before init has migrated")
    if "init" in graph and not {"postgres", "kafka"} <= set(graph["init"]):
        problems.append("init: does not wait for PostgreSQL and Kafka")
    return problems


def exposure_problems(m: Model) -> list[str]:
    problems = []
    for name, service in m["services"].items():
        if service.get("network_mode") == "host":
            problems.append(f"{name}: host network")
        if service.get("ports") and name != "gateway":
            problems.append(f"{name}: publishes {service['ports']}")
    ports = m["services"].get("gateway", {}).get("ports", [])
    if [str(p).rsplit(":", 1)[-1] for p in ports] != [str(PORTS["gateway"])]:
        problems.append(f"gateway: publishes {ports}, expected its port {PORTS['gateway']}")
    return problems


def created_databases() -> set[str]:
    sql = INIT_SQL.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*CREATE DATABASE\s+(\w+)\s*;", sql, re.MULTILINE | re.IGNORECASE))


def wiring_problems(m: Model) -> list[str]:
    """One database per service, created by the init script, each given only to its service;
    the broker and the services where the other processes look for them."""
    problems = []
    services = m["services"]
    postgres = environment(services.get("postgres", {}))
    databases = {}
    for name in SERVICES:
        env = environment(services.get(name, {}))
        given = sorted(k for k in env if k.endswith("_DATABASE_URL"))
        own = f"XINFANG_{name.upper()}_DATABASE_URL"
        if given != [own]:
            problems.append(f"{name}: database URLs {given}, expected {own} alone")
            continue
        url = urlsplit(env[own])
        databases[name] = url.path.lstrip("/")
        if url.hostname not in services or url.port != 5432:
            problems.append(f"{name}: database at {url.hostname}:{url.port}, not a service here")
        if (url.username, url.password) != (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        ):
            problems.append(f"{name}: database credentials differ from the postgres service's")
        init_url = environment(services["init"]).get(own)
        if init_url != env[own]:
            problems.append(f"init: migrates {own}={init_url}, but {name} uses another")
    for name in PORTS.keys() - set(SERVICES):
        if any(k.endswith("_DATABASE_URL") for k in environment(services.get(name, {}))):
            problems.append(f"{name}: has a database URL, and needs none")
    if len(set(databases.values())) != len(databases):
        problems.append(f"services share a database: {databases}")
    missing = set(databases.values()) - created_databases()
    if missing:
        problems.append(f"init-databases.sql does not create {sorted(missing)}")
    for name, service in xinfang_services(m).items():
        env = environment(service)
        host, _, port = env.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS", "").partition(":")
        advertised = environment(services.get(host, {})).get("KAFKA_ADVERTISED_LISTENERS", "")
        if f"//{host}:{port}" not in advertised:
            problems.append(f"{name}: the broker {host}:{port} is not advertised by a service")
    gateway = environment(services.get("gateway", {}))
    for name in SERVICES:
        url = urlsplit(gateway.get(f"XINFANG_{name.upper()}_URL", ""))
        target = services.get(url.hostname or "", {})
        served = [a for a in (commands(target) or []) if a[:1] == ["serve"]]
        if not served or url.port != getattr(cli_args(served[0]), "port", None):
            problems.append(f"gateway: XINFANG_{name.upper()}_URL={url.geturl()} reaches nothing")
    kafka = environment(services.get("kafka", {}))
    if "controller" not in kafka.get("KAFKA_PROCESS_ROLES", "") or any(
        "ZOOKEEPER" in k for k in kafka
    ):
        problems.append("kafka: not in KRaft mode")
    return problems


def strings(node: Any) -> list[str]:
    """Every string value of the model (keys are not interpolated by compose)."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def secret_problems(raw: Model) -> list[str]:
    """On the file as written: a secret is never a literal, only a ${VAR} from deploy/.env;
    a URL's password likewise."""
    problems = []
    for name, service in raw["services"].items():
        for key, value in environment(service).items():
            masked = REFERENCE.sub("\x01", value)  # each ${...} becomes one placeholder
            if CREDENTIALS_IN_URL.search(masked):
                password = masked.split("://", 1)[1].rpartition("@")[0].partition(":")[2]
                if password != "\x01":
                    problems.append(f"{name}: {key} has a literal password")
            elif SECRET_NAME.search(key) and masked != "\x01":
                problems.append(f"{name}: {key} is a literal, not a ${{VAR}} from .env")
    return problems


def variable_problems(raw: Model, example: str) -> list[str]:
    """Every variable the file needs is in .env.example: a required one (${VAR:?...} or a bare
    ${VAR}) as a KEY= line to fill in; one with a default at least mentioned (commented)."""
    problems = []
    assigned = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", example, re.MULTILINE))
    mentioned = set(re.findall(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=", example, re.MULTILINE))
    for value in strings(raw):
        value = value.replace("$$", "")
        for m in REFERENCE.finditer(value):
            name, op = m.group(1), m.group(2)
            if op in (":-", "-", ":+", "+"):
                if name not in assigned | mentioned:
                    problems.append(f"${{{name}}} (optional) is not mentioned in .env.example")
            elif name not in assigned:
                problems.append(f"${{{name}}} is required but .env.example has no {name}= line")
        for m in BARE.finditer(REFERENCE.sub("", value)):
            problems.append(f"${m.group(1)}: write ${{{m.group(1)}:?...}} so a missing value stops")
    return problems


def all_problems(m: Model, raw: Model) -> list[str]:
    return (
        command_problems(m)
        + order_problems(m)
        + exposure_problems(m)
        + wiring_problems(m)
        + secret_problems(raw)
    )


# -- the tests -------------------------------------------------------------------------------------


class Checked:
    def __init__(self, returncode: int, stdout: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, ""


def check_jsonschema(path: Path) -> Checked:
    """`check-jsonschema --builtin-schema vendor.compose-spec PATH`, its command run in this
    process (click's runner) rather than as a new interpreter: same code, same exit code."""
    import check_jsonschema as cli
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli.main, ["--builtin-schema", "vendor.compose-spec", "--color", "never", str(path)]
    )
    return Checked(result.exit_code, result.output)


def test_check_jsonschema_vendors_the_compose_specification() -> None:
    """The schema is in the package (nothing is downloaded) and is the Compose Specification."""
    import json

    schema = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    loaded = json.loads(schema.read_text(encoding="utf-8"))
    assert loaded["title"] == "Compose Specification"
    assert "service_completed_successfully" in json.dumps(loaded)


def test_compose_file_matches_the_compose_specification() -> None:
    out = check_jsonschema(COMPOSE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_file_with_env_applied_matches_the_compose_specification(tmp_path: Path) -> None:
    """After interpolation, as `docker compose config` would see it (types included)."""
    rendered = tmp_path / "compose.yaml"
    rendered.write_text(yaml.safe_dump(model(), sort_keys=False), encoding="utf-8")
    out = check_jsonschema(rendered)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("breaks", "reported"),
    [
        (
            lambda m: m["services"]["kafka"].update(healthchek={"test": ["CMD", "true"]}),
            "healthchek",
        ),
        (
            lambda m: m["services"]["intake"]["depends_on"]["init"].update(
                condition="service_done"
            ),
            "service_done",
        ),
        (lambda m: m.update(volume=m.pop("volumes")), "'volume' does not match"),
    ],
)
def test_compose_schema_check_rejects_a_broken_copy(
    tmp_path: Path, breaks: Callable[[Model], None], reported: str
) -> None:
    broken = model()
    breaks(broken)
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    out = check_jsonschema(path)
    assert out.returncode == 1 and reported in out.stdout, out.stdout + out.stderr


def test_compose_runs_known_commands_waits_for_init_and_wires_one_database_each() -> None:
    m = model()
    assert all_problems(m, raw_model()) == []
    assert (
        len({environment(m["services"][s])[f"XINFANG_{s.upper()}_DATABASE_URL"] for s in SERVICES})
        == 4
    )


def test_env_example_has_every_variable_compose_needs() -> None:
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert variable_problems(raw_model(), example) == []
    references = [m for s in strings(raw_model()) for m in REFERENCE.finditer(s)]
    required = {m.group(1) for m in references if m.group(2) in (":?", "?")}
    assert {
        "POSTGRES_PASSWORD",
        "XINFANG_JWT_SECRET",
        "XINFANG_PII_KEY",
        "XINFANG_HMAC_KEY",
    } <= required
    # left empty in the example, compose refuses to start: interpolation fails on each
    for name in required:
        assert env_example()[name] == "", f"{name} has a value in .env.example"
        with pytest.raises(ValueError, match=name):
            model(filled_env() | {name: ""})


def test_secret_files_are_kept_out_of_git() -> None:
    git = tool("git")
    for path in ("deploy/.env", "deploy/k8s/secret.yaml"):
        out = subprocess.run(
            [str(git), "-C", str(ROOT), "check-ignore", "--no-index", "-q", path],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, f"{path} is not git-ignored: {out.stderr}"
    assert (DEPLOY / ".env.example").is_file()


def _unknown_command(m: Model) -> None:
    m["services"]["routing"]["command"] = ["serve", "routeing", "--port", "8002"]


def _wrong_health_port(m: Model) -> None:
    m["services"]["tracking"]["healthcheck"]["test"][-1] = m["services"]["tracking"]["healthcheck"][
        "test"
    ][-1].replace("8003", "8004")


def _no_health_check(m: Model) -> None:
    del m["services"]["postgres"]["healthcheck"]


def _init_forgets_migrations(m: Model) -> None:
    m["services"]["init"]["command"] = ["xinfang topics create"]


def _cycle(m: Model) -> None:
    m["services"]["postgres"]["depends_on"] = {"gateway": {"condition": "service_healthy"}}


def _starts_before_init(m: Model) -> None:
    m["services"]["evaluation"]["depends_on"] = {"postgres": {"condition": "service_healthy"}}


def _init_merely_started(m: Model) -> None:
    m["services"]["intake"]["depends_on"]["init"]["condition"] = "service_started"


def _second_published_port(m: Model) -> None:
    m["services"]["intake"]["ports"] = ["8001:8001"]


def _shared_database(m: Model) -> None:
    env = m["services"]["routing"]["environment"]
    env["XINFANG_ROUTING_DATABASE_URL"] = env["XINFANG_ROUTING_DATABASE_URL"].replace(
        "routing", "intake"
    )
    m["services"]["init"]["environment"]["XINFANG_ROUTING_DATABASE_URL"] = env[
        "XINFANG_ROUTING_DATABASE_URL"
    ]


def _uncreated_database(m: Model) -> None:
    for where in ("evaluation", "init"):
        env = m["services"][where]["environment"]
        env["XINFANG_EVALUATION_DATABASE_URL"] += "_v2"


def _someone_elses_database(m: Model) -> None:
    m["services"]["gateway"]["environment"]["XINFANG_INTAKE_DATABASE_URL"] = "x"
    m["services"]["tracking"]["environment"]["XINFANG_INTAKE_DATABASE_URL"] = "x"


def _gateway_misses_a_service(m: Model) -> None:
    m["services"]["gateway"]["environment"]["XINFANG_TRACKING_URL"] = "http://tracking:8000"


@pytest.mark.parametrize(
    ("breaks", "reported"),
    [
        (_unknown_command, "invalid choice: 'routeing'"),
        (_wrong_health_port, "tracking: no health check on /readyz at port 8003"),
        (_no_health_check, "postgres: no health check"),
        (_init_forgets_migrations, "init: does not run `migrate` then `topics create`"),
        (_cycle, "depends_on cycle"),
        (_starts_before_init, "evaluation: may start before init"),
        (_init_merely_started, "intake: starts when init has merely started"),
        (_second_published_port, "intake: publishes"),
        (_shared_database, "services share a database"),
        (_uncreated_database, "does not create ['xinfang_evaluation_v2']"),
        (_someone_elses_database, "tracking: database URLs"),
        (_someone_elses_database, "gateway: has a database URL"),
        (_gateway_misses_a_service, "XINFANG_TRACKING_URL=http://tracking:8000 reaches nothing"),
    ],
)
def test_compose_checks_catch_a_broken_copy(breaks: Callable[[Model], None], reported: str) -> None:
    m = copy.deepcopy(model())
    breaks(m)
    problems = all_problems(m, raw_model())
    assert any(reported in p for p in problems), problems


def test_secret_and_variable_checks_catch_a_broken_copy() -> None:
    raw = raw_model()
    raw["services"]["intake"]["environment"]["XINFANG_PII_KEY"] = "aGVsbG8gd29ybGQ="
    url = "postgresql+asyncpg://xinfang:hunter2@postgres:5432/xinfang_routing"
    raw["services"]["routing"]["environment"]["XINFANG_ROUTING_DATABASE_URL"] = url
    problems = secret_problems(raw)
    assert "intake: XINFANG_PII_KEY is a literal, not a ${VAR} from .env" in problems
    assert "routing: XINFANG_ROUTING_DATABASE_URL has a literal password" in problems
    example = ENV_EXAMPLE.read_text(encoding="utf-8").replace("\nXINFANG_HMAC_KEY=", "\n")
    problems = variable_problems(raw_model() | {"x-extra": "${NEW_ONE:-1} $LOOSE"}, example)
    assert (
        "${XINFANG_HMAC_KEY} is required but .env.example has no XINFANG_HMAC_KEY= line" in problems
    )
    assert "${NEW_ONE} (optional) is not mentioned in .env.example" in problems
    assert any(p.startswith("$LOOSE") for p in problems)
