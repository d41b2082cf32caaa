"""Schemathesis against the running suite, through the gateway, from its ``/openapi.json``.

The document is built in-process when this module is collected (schemathesis makes one test per
operation at collection, before the suite runs; its fixture-based loader does not work with
pytest 9.2), and the first test checks that the running gateway serves exactly that document.
Every operation of the merged document (the services' ``/api/v1`` operations that the gateway
forwards, and the gateway's own) gets generated requests: the coverage phase (boundary values
and invalid values of every parameter and body field) and ``MAX_EXAMPLES`` fuzzed ones, with a
fixed seed so that a run repeats. Each answer must be no 5xx; its status code, content type,
headers and body as documented; an invalid request refused (4xx); an operation that needs a
token refused without one; a method the path does not take answered 405 with ``Allow``.

Each case is sent as one of several callers, picked from the case itself (so that a failing
example keeps its caller while Hypothesis shrinks it): an operator of the whole country, an
operator of one county, a unit, a petitioner, or nobody. About half the valid cases are about
real petitions, cases and units (``realistic``), so that calls reach the domain code.

Run it alone: ``.venv/bin/python -m pytest -q tests/e2e/test_schemathesis.py`` (the figures
are printed at the end).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
import schemathesis
from schemathesis import Case, GenerationMode

from services.gateway import openapi
from services.gateway.main import create_app
from services.launcher import Suite
from tests.e2e.conftest import petition, token, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = 20261128
MAX_EXAMPLES = 10  # fuzzed cases per operation, besides the coverage phase's
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",
    "missing_required_header",
)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # the callers below bring real tokens; invalid ones are still generated on purpose
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "database": "none",
            "with-security-parameters": False,
        },
        # stateful testing needs OpenAPI links, which the document has none of
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }
)
DOCUMENT = openapi.build(create_app())
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
CALLERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("operator", token("operator", "schemathesis-operator")),
    ("county operator", token("operator", "schemathesis-county", region_code="110107")),
    ("unit", token("unit", "schemathesis-clerk", unit_id="110107:hrss")),
    ("petitioner", token("petitioner", "schemathesis-petitioner")),
    ("nobody", {}),
)


@dataclass
class Figures:
    session: pytest.Session
    failed_before: int
    calls: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        failing = self.session.testsfailed - self.failed_before  # one test per operation
        return (
            f"schemathesis: {len(self.operations)} operations tested, {self.calls} calls "
            f"({codes}), {failing} operations failing"
        )


def caller(case: Case) -> tuple[str, dict[str, str]]:
    """A caller picked from the case's content: the same case always goes as the same one.
    A case whose headers were generated invalid on purpose (a missing or malformed token)
    goes as generated."""
    headers = case.meta.components.get("header") if case.meta else None
    if headers is not None and headers.mode is GenerationMode.NEGATIVE:
        return "as generated", {}
    drawn = json.dumps(
        [case.operation.label, case.path_parameters, case.query, case.body],
        sort_keys=True,
        default=str,
    )
    name, headers = CALLERS[zlib.crc32(drawn.encode()) % len(CALLERS)]
    if name == "nobody" and case.query and "query_code" in case.query:
        # The services allow 10 query-code lookups a minute per client address, and every
        # end-to-end test calls from 127.0.0.1: anonymous lookups here would make the next
        # tests' lookups answer 429. A query code next to a token is not counted.
        return CALLERS[0]
    return name, headers


# Real petitions, cases and units (the `real` fixture fills it in): random identifiers alone
# would make nearly every call about a case a 404 that never reaches the domain code.
REAL: dict[str, list[str]] = {}


def realistic(case: Case) -> None:
    """About half the valid cases are made about real things, picked from the drawn values
    (so a case is always changed the same way): path identifiers, and a submitted petition."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return  # an invalid case must stay invalid
    for name, values in REAL.items():
        if name in (case.path_parameters or {}):
            pick = zlib.crc32(f"{case.operation.label} {case.path_parameters[name]}".encode())
            if pick % 2:
                case.path_parameters[name] = values[pick // 2 % len(values)]
    if case.operation.label == "POST /api/v1/petitions":
        pick = zlib.crc32(json.dumps(case.body, sort_keys=True, default=str).encode())
        if pick % 2:
            case.body = petition(content=f"某建筑公司拖欠农民工工资三个月。编号{pick}")


@pytest.fixture(scope="module")
def real(api: httpx.Client) -> dict[str, list[str]]:
    owner = dict(CALLERS)["petitioner"]
    created = [api.post("/api/v1/petitions", json=petition(), headers=owner) for _ in range(3)]
    assert [r.status_code for r in created] == [201] * 3, created[0].text
    numbers = [r.json()["tracking_number"] for r in created]
    for number in numbers:
        wait_for(
            lambda n=number: (
                api.get(f"/api/v1/cases/{n}", headers=owner).json().get("status") == "routed"
            )
        )
    REAL.update(
        tracking_number=numbers,
        case_id=[r.json()["petition_id"] for r in created],
        unit_id=["110107:hrss"],  # where these grievances are routed
        code=["110107", "110107011"],
    )
    return REAL


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.session, request.session.testsfailed)


def test_the_suite_serves_the_document_under_test(api: httpx.Client) -> None:
    served = api.get("/openapi.json", timeout=120)  # built on its first request
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
def test_public_api_answers_as_documented(
    case: Case, suite: Suite, real: dict[str, list[str]], figures: Figures
) -> None:
    realistic(case)
    _name, headers = caller(case)
    figures.calls += 1
    figures.operations.add(case.operation.label)
    sent = {"base_url": suite.url("gateway"), "headers": headers, "timeout": 30}
    response = case.call(**sent)
    figures.statuses[response.status_code] += 1
    # the checks that send more requests (auth left out, other methods) send them the same way
    case.validate_response(response, headers=headers, transport_kwargs=sent)


def test_the_run_reached_every_operation(
    figures: Figures, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a vacuous run: every operation was called, and some calls got through. Prints the
    run's figures."""
    if not figures.calls:
        pytest.skip("checks the run of test_public_api_answers_as_documented, not selected")
    with capsys.disabled():
        print("\n" + figures.summary())
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert len(labels) > 40
    assert figures.operations == labels, labels - figures.operations
    assert sum(n for code, n in figures.statuses.items() if code < 300) >= len(labels)
