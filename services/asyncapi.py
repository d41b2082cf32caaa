"""The AsyncAPI 3.0 document of the event topics, generated from the code.

Which event types travel on which topic comes from each payload model's ``SOURCE``
(``xinfang/intake`` -> ``xinfang.intake.events``); which service receives which types comes
from the handlers each consuming service registers. The document is checked in as
``docs/asyncapi.json`` and a unit test keeps it equal to :func:`build`; regenerate it with::

    .venv/bin/python -m services.asyncapi docs/asyncapi.json

The document always describes the default settings (topic prefix ``xinfang``, default
partitions), whatever ``XINFANG_*`` variables the environment holds, so it is reproducible.
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shared import contracts
from shared.events import Envelope, EventData, registered_types
from shared.messaging.kafka import TOPIC_CONFIG
from shared.settings import SERVICES, CommonSettings

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SOURCE_PREFIX = "xinfang/"

# Dead-letter headers, added by shared.messaging.consumer to the original message's headers.
DLQ_HEADERS: dict[str, str] = {
    "x-error": "the error of the last attempt (str(exception), at most 2000 characters)",
    "x-error-type": "the exception's class name, e.g. InvalidEvent",
    "x-original-topic": "the topic the message was read from",
    "x-original-partition": "its partition there (decimal)",
    "x-original-offset": "its offset there (decimal)",
    "x-consumer-group": "the consumer group that gave up on it, e.g. xinfang-routing",
    "x-attempts": "how many times it was tried (decimal)",
    "x-failed-at": "when it was dead-lettered (ISO 8601, UTC)",
}

KEY_DESCRIPTION = (
    "The CloudEvents subject: the case id (intake's petition_id, a UUID), so each service's "
    "events about a case stay in order on one partition. Events about no single case are "
    "keyed by their region or unit id."
)


def _defaults() -> CommonSettings:
    """Default settings, ignoring the environment (the document must be reproducible)."""
    return CommonSettings.model_construct()


def _consumers() -> dict[str, Callable[[CommonSettings], Mapping[str, Any]]]:
    """The consuming services and their handler factories."""
    from evaluation.handlers import consumed as evaluation_handlers
    from intake.handlers import handlers as intake_handlers
    from routing.handlers import handlers as routing_handlers
    from tracking.handlers import handlers as tracking_handlers

    return {
        "intake": intake_handlers,
        "routing": routing_handlers,
        "tracking": tracking_handlers,
        "evaluation": evaluation_handlers,
    }


def producer_of(model: type[EventData]) -> str:
    """The service whose topic carries an event type, from its ``SOURCE``."""
    source = model.SOURCE
    service = source.removeprefix(SOURCE_PREFIX)
    if service not in SERVICES or source != f"{SOURCE_PREFIX}{service}":
        raise ValueError(f"{model.TYPE}: source {source!r} is not xinfang/<service>")
    return service


def _camel(service: str) -> str:
    return service[:1].upper() + service[1:]


def _ref(*parts: str) -> dict[str, str]:
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return {"$ref": "#/" + "/".join(escaped)}


def _doc(model: type) -> tuple[str, str]:
    """(summary, description) from a class docstring (pydantic models inherit none)."""
    text = inspect.cleandoc(model.__dict__.get("__doc__") or "")
    return (text.split("\n\n", 1)[0].replace("\n", " "), text)


def _add_schemas(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """Put a model's schema and its ``$defs`` under components/schemas, refusing clashes."""
    schema = copy.deepcopy(schema)
    for key, sub in {**schema.pop("$defs", {}), name: schema}.items():
        if key in schemas and schemas[key] != sub:
            raise ValueError(f"two different schemas named {key}")
        schemas[key] = sub


def _envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema["description"] = (
        "CloudEvents 1.0, structured mode: the Kafka value is this JSON object. Every field is "
        "present on the wire; causationid is null for an event no other event caused."
    )
    schema["required"] = list(schema["properties"])
    notes = {
        "id": "unique per event; consumers deduplicate by (consumer group, id)",
        "source": "the producing service, xinfang/<service>",
        "type": "the versioned event type, e.g. intake.petition.submitted.v1",
        "subject": "equals the Kafka message key (the case id)",
        "correlationid": "the request or flow that led to this event, passed along unchanged",
        "causationid": "the id of the event whose handling produced this one",
    }
    for name, note in notes.items():
        schema["properties"][name]["description"] = note
    return schema


def _message(model: type[EventData], envelope: dict[str, Any]) -> dict[str, Any]:
    summary, description = _doc(model)
    payload = copy.deepcopy(envelope)
    payload["title"] = f"CloudEvent {model.TYPE}"
    properties = payload["properties"]
    properties["type"] = {**properties["type"], "const": model.TYPE}
    properties["source"] = {**properties["source"], "const": model.SOURCE}
    properties["data"] = _ref("components", "schemas", model.__name__)
    message: dict[str, Any] = {
        "name": model.TYPE,
        "title": model.__name__,
        "contentType": "application/json",
        "payload": payload,
        "headers": {
            "type": "object",
            "description": "Kafka headers the outbox relay adds (copies of envelope fields).",
            "properties": {
                "ce_type": {"type": "string", "const": model.TYPE},
                "ce_id": {"type": "string", "description": "the envelope's id"},
                "x-replayed-from": {
                    "type": "string",
                    "description": "set by `xinfang dlq replay`: <dlq topic>:<partition>:<offset>",
                },
            },
        },
        "correlationId": {
            "description": "the flow this event belongs to",
            "location": "$message.payload#/correlationid",
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": KEY_DESCRIPTION},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    if summary:
        message["summary"] = summary
    if description and description != summary:
        message["description"] = description
    return message


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A message a consumer gave up on after bounded retries.",
        "description": (
            "The original message unchanged (value, key and headers), with the dead-letter "
            "headers appended. The value is usually the CloudEvent of the original topic, but "
            "may be anything that arrived there (a message that is not a valid CloudEvent is "
            "dead-lettered at once)."
        ),
        "contentType": "application/json",
        "payload": {"description": "the original Kafka value, byte for byte"},
        "headers": {
            "type": "object",
            "required": sorted(DLQ_HEADERS),
            "properties": {
                name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
            },
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "the original message's key"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel_binding(settings: CommonSettings, topic: str) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic,
            "partitions": settings.topic_partitions,
            "replicas": settings.topic_replication_factor,
            "topicConfiguration": {"retention.ms": int(TOPIC_CONFIG["retention.ms"])},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _group_binding(group: str) -> dict[str, Any]:
    return {
        "kafka": {
            "groupId": {"type": "string", "enum": [group]},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a JSON-compatible dict) for the default settings."""
    assert contracts  # the payload models register themselves on import
    settings = _defaults()
    types = dict(sorted(registered_types().items()))

    envelope = _envelope_schema()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    by_producer: dict[str, list[str]] = {s: [] for s in SERVICES}
    for type_, model in types.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        _add_schemas(schemas, model.__name__, schema)
        messages[type_] = _message(model, envelope)
        by_producer[producer_of(model)].append(type_)
    messages["dead-letter"] = _dead_letter_message()

    handled: dict[str, list[str]] = {}
    for service, factory in _consumers().items():
        names = sorted(factory(settings))
        unknown = [t for t in names if t not in types]
        if unknown:
            raise ValueError(f"{service} handles unregistered types {unknown}")
        handled[service] = names

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    replay_group = f"{settings.topic_prefix}-dlq-replay"
    for producer in SERVICES:
        topic, dlq = settings.topic(producer), settings.dlq_topic(settings.topic(producer))
        readers = {
            consumer: [t for t in names if producer_of(types[t]) == producer]
            for consumer, names in handled.items()
        }
        readers = {c: names for c, names in readers.items() if names}
        produced = by_producer[producer]
        channels[topic] = {
            "address": topic,
            "title": f"{_camel(producer)} events",
            "description": (
                f"Events the {producer} service publishes (transactional outbox, keyed by the "
                f"case id, unlimited retention). Read by: {', '.join(readers) or 'nobody yet'}."
                + ("" if produced else " No event types are published here yet.")
            ),
            "messages": {t: _ref("components", "messages", t) for t in produced},
            "bindings": _channel_binding(settings, topic),
        }
        channels[dlq] = {
            "address": dlq,
            "title": f"{_camel(producer)} dead letters",
            "description": (
                f"Messages of {topic} that a consumer could not process after bounded retries "
                "(poison messages), with the error in headers: "
                + ", ".join(DLQ_HEADERS)
                + ". `xinfang dlq show` lists them; `xinfang dlq replay` re-publishes them to "
                "the original topic (without the x- headers, adding x-replayed-from) once, "
                "remembering its position in the consumer group "
                f"{replay_group}. Consumers skip events they already applied (inbox)."
            ),
            "messages": {"dead-letter": _ref("components", "messages", "dead-letter")},
            "bindings": _channel_binding(settings, dlq),
        }
        if produced:
            operations[f"{producer}.send"] = {
                "action": "send",
                "title": f"{producer} publishes its events",
                "description": "The outbox relay publishes committed outbox rows in order per key.",
                "channel": _ref("channels", topic),
                "messages": [_ref("channels", topic, "messages", t) for t in produced],
            }
        for consumer, names in readers.items():
            group = settings.consumer_group(consumer)
            operations[f"{consumer}.receive.{producer}"] = {
                "action": "receive",
                "title": f"{consumer} consumes {producer} events",
                "description": (
                    f"Consumer group {group}: offsets committed after the database commit, "
                    "duplicates skipped by the inbox, other types on the topic ignored."
                ),
                "channel": _ref("channels", topic),
                "messages": [_ref("channels", topic, "messages", t) for t in names],
                "bindings": _group_binding(group),
            }
            operations[f"{consumer}.deadLetter.{producer}"] = {
                "action": "send",
                "title": f"{consumer} dead-letters {producer} events it cannot process",
                "channel": _ref("channels", dlq),
                "messages": [_ref("channels", dlq, "messages", "dead-letter")],
            }
        operations[f"dlq.receive.{producer}"] = {
            "action": "receive",
            "title": f"`xinfang dlq replay` reads {producer} dead letters",
            "channel": _ref("channels", dlq),
            "messages": [_ref("channels", dlq, "messages", "dead-letter")],
            "bindings": _group_binding(replay_group),
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Xinfang events",
            "version": "1",
            "description": (
                "The internal event topics of the Xinfang services: one topic per producing "
                "service, CloudEvents 1.0 in structured mode, keyed by the case id; dead "
                "letters on <topic>.dlq. Generated by services/asyncapi.py; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": settings.kafka_bootstrap_servers,
                "protocol": "kafka",
                "description": (
                    "The embedded development broker (tansu). Other brokers and topic "
                    "prefixes: XINFANG_KAFKA_BOOTSTRAP_SERVERS, XINFANG_TOPIC_PREFIX."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m services.asyncapi [OUTPUT.json]", file=sys.stderr)
        return 2
    text = render(build())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
