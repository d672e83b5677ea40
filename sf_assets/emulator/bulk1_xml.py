"""The Bulk API 1.0 XML wire format: jobInfo, batchInfo, batchInfoList and error documents.

Documents are written exactly as the recorded responses lay them out (``bulk1_*.tpl``): the XML
declaration runs into the root element, whose namespace sits on the next line, and children are
indented by one space per level. Request documents (a jobInfo to create, close or abort a job) are
read leniently: with or without the namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from .errors import ApiError

NAMESPACE = "http://www.force.com/2009/06/asyncapi/dataload"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
_MAX_REQUEST = 64 * 1024


def xml_datetime(value: str) -> str:
    """The org's ``...000+0000`` stamps as the XML documents write them (``...000Z``)."""
    return value.removesuffix("+0000") + "Z" if value.endswith("+0000") else value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _children(fields: Mapping[str, Any], indent: str) -> str:
    return "".join(f"{indent}<{name}>{_text(value)}</{name}>\n" for name, value in fields.items())


def _open(root: str) -> str:
    return f'{_HEAD}<{root}\n   xmlns="{NAMESPACE}">\n'


def document(root: str, fields: Mapping[str, Any]) -> bytes:
    """A jobInfo or batchInfo document; dateTime fields are given in the org's form."""
    return (_open(root) + _children(_dates(fields), " ") + f"</{root}>").encode()


def batch_list(batches: Sequence[Mapping[str, Any]]) -> bytes:
    body = "".join(f" <batchInfo>\n{_children(_dates(b), '  ')} </batchInfo>\n" for b in batches)
    return (_open("batchInfoList") + body + "</batchInfoList>").encode()


def error_document(code: str, message: str) -> bytes:
    return document("error", {"exceptionCode": code, "exceptionMessage": message})


def _dates(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: xml_datetime(v) if k in ("createdDate", "systemModstamp") else v for k, v in fields.items()}


def parse_job_request(data: bytes) -> dict[str, str]:
    """The child elements of a jobInfo request as a dict of their text, namespace or not.

    Raises:
        ApiError: 400 ``InvalidXML`` when the body is not a jobInfo document.
    """
    if len(data) > _MAX_REQUEST:
        raise ApiError(400, "InvalidXML", "The jobInfo document is too large")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        # Entity expansion is the one XML feature a jobInfo never needs and an attacker always wants.
        raise ApiError(400, "InvalidXML", "Document type declarations are not allowed")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise ApiError(400, "InvalidXML", f"Unable to parse the request body as XML: {error}") from error
    if _local(root.tag) != "jobInfo":
        raise ApiError(400, "InvalidXML", f"Expected a jobInfo element, found {_local(root.tag)}")
    return {_local(child.tag): (child.text or "").strip() for child in root}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
