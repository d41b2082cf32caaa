"""Open311 documents as JSON and XML, and the spec's error format.

JSON follows the spec's examples (the Spark convention: a list at the top for services,
service requests and errors). XML has the spec's root and item elements (``services/service``,
``service_requests/request``, ``errors/error``, ``discovery``, ``service_definition``), booleans
as ``true``/``false`` and an empty element for a null value.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# The element of each item of a list, by the list's name.
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


class Open311Error(Exception):
    """An error answered in the spec's format: ``[{code, description}]`` with that status."""

    def __init__(
        self, status: int, description: str | list[str], headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.descriptions = [description] if isinstance(description, str) else description
        self.headers = headers or {}
        super().__init__("; ".join(self.descriptions))


def split_format(name: str) -> tuple[str, str]:
    """``"requests.json"`` -> ``("requests", "json")``; an unknown format is a 404."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        raise Open311Error(404, f"unknown format in '{name}': end the path with .json or .xml")
    return stem, fmt


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(parent: ET.Element, tag: str, value: Any) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _element(node, key, child)
    elif isinstance(value, list):
        for child in value:
            _element(node, ITEM.get(tag, "item"), child)
    else:
        node.text = _text(value)


def to_xml(root: str, document: Any) -> bytes:
    """``document`` is a list (items of ``root``) or a dict (children of ``root``)."""
    top = ET.Element(root)
    if isinstance(document, list):
        for item in document:
            _element(top, ITEM[root], item)
    else:
        for key, value in document.items():
            _element(top, key, value)
    body = ET.tostring(top, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode()


def render(
    fmt: str,
    root: str,
    document: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if fmt == "xml":
        content = to_xml(root, document)
    else:
        content = json.dumps(document, ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=FORMATS[fmt], headers=headers)


def error_response(fmt: str, error: Open311Error) -> Response:
    document = [{"code": error.status, "description": d} for d in error.descriptions]
    return render(fmt, "errors", document, error.status, error.headers)
