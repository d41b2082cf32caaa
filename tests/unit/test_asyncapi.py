"""The checked-in AsyncAPI document is generated from the code and never drifts from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services import asyncapi
from shared.events import registered_types
from shared.settings import SERVICES

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = ".venv/bin/python -m services.asyncapi docs/asyncapi.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(asyncapi.render(asyncapi.build()))


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_checked_in_document_equals_the_generated_one(doc: dict[str, Any]) -> None:
    assert DOC.exists(), f"docs/asyncapi.json is missing; generate it with: {REGENERATE}"
    checked_in = json.loads(DOC.read_text(encoding="utf-8"))
    assert checked_in == doc, (
        f"docs/asyncapi.json is out of date with the code; regenerate it with: {REGENERATE}"
    )


def test_every_event_type_is_on_exactly_the_topic_of_its_source(doc: dict[str, Any]) -> None:
    types = registered_types()
    assert types, "no event types registered"
    for type_, model in types.items():
        service = model.SOURCE.removeprefix("xinfang/")
        assert service in SERVICES, f"{type_}: source {model.SOURCE}"
        on = [c["address"] for c in doc["channels"].values() if type_ in c["messages"]]
        assert on == [f"xinfang.{service}.events"], type_
        payload = doc["components"]["messages"][type_]["payload"]
        assert payload["properties"]["type"]["const"] == type_
        assert payload["properties"]["source"]["const"] == model.SOURCE
        data = _resolve(doc, payload["properties"]["data"]["$ref"])
        assert set(data["properties"]) == set(model.model_fields)


def test_one_channel_per_topic_and_dead_letter_topic(doc: dict[str, Any]) -> None:
    topics = [f"xinfang.{s}.events" for s in SERVICES]
    expected = sorted(topics + [f"{t}.dlq" for t in topics])
    assert sorted(c["address"] for c in doc["channels"].values()) == expected
    dead = doc["components"]["messages"]["dead-letter"]["headers"]["properties"]
    assert set(asyncapi.DLQ_HEADERS) <= set(dead)
    assert {"x-error", "x-original-topic", "x-consumer-group", "x-failed-at"} <= set(dead)


def test_receive_operations_are_the_handlers_each_service_registers(
    doc: dict[str, Any],
) -> None:
    settings = asyncapi._defaults()
    for service, factory in asyncapi._consumers().items():
        received = {
            ref["$ref"].rsplit("/", 1)[-1]
            for op in doc["operations"].values()
            if op["action"] == "receive"
            and op["bindings"]["kafka"]["groupId"]["enum"] == [f"xinfang-{service}"]
            for ref in op["messages"]
        }
        assert received == set(factory(settings)), service


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = _refs(doc)
    assert refs
    for ref in refs:
        _resolve(doc, ref)
    for op in doc["operations"].values():
        channel = _resolve(doc, op["channel"]["$ref"])
        for ref in op["messages"]:  # operations may only name their channel's messages
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            assert ref["$ref"].rsplit("/", 1)[-1] in channel["messages"]


def test_main_writes_the_rendered_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    assert asyncapi.main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == asyncapi.render(asyncapi.build())
