"""Read back what was sent through SES, from moto's server.

moto keeps every raw message (SES v1 SendRawEmail and SES v2 SendEmail with Raw
content both land there) and shows it at `<moto endpoint>/moto-api/data.json`
under ["ses"]["RawMessage"]: {id, source, destinations, raw_data}. The list holds
every message the server has seen (all test modules share one moto server), so
filter by message id or recipient.
"""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

import requests


def _lines(text: str | None) -> str | None:
    """Body text with the wire's CRLF line ends turned into newlines."""
    return None if text is None else text.replace("\r\n", "\n")


def _parse(raw: dict[str, Any]) -> dict[str, Any]:
    message = email.message_from_string(raw["raw_data"], policy=default_policy)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = list(message.iter_attachments()) if message.is_multipart() else []
    return {
        "message_id": raw["id"],  # SES's MessageId, as send_email returned it
        "source": raw["source"],
        "destinations": list(raw["destinations"]),
        "subject": str(message["Subject"] or ""),
        "from": str(message["From"] or ""),
        "to": [address for _, address in getaddresses([str(message["To"] or "")]) if address],
        "reply_to": str(message["Reply-To"]) if message["Reply-To"] else None,
        "content_type": message.get_content_type(),
        "text": _lines(text_part.get_content()) if text_part is not None else None,
        "html": _lines(html_part.get_content()) if html_part is not None else None,
        "attachments": [part.get_filename() for part in attachments],
        "attachment_data": {part.get_filename(): part.get_payload(decode=True) for part in attachments},
        "leaf_types": [part.get_content_type() for part in message.walk() if not part.is_multipart()],
        "message": message,
    }


def read_sent_emails(
    moto_endpoint: str, *, to: str | None = None, message_id: str | None = None
) -> list[dict[str, Any]]:
    """Every raw email moto's server holds, parsed, oldest first; optionally filtered.

    Each dict: message_id, source, destinations, subject, from, to (header
    addresses), reply_to, content_type, text, html, attachments (file names),
    attachment_data ({file name: bytes}), leaf_types (content types of the
    non-multipart parts) and message (the parsed EmailMessage).
    """
    response = requests.get(f"{moto_endpoint.rstrip('/')}/moto-api/data.json", timeout=10)
    response.raise_for_status()
    raw_messages = response.json().get("ses", {}).get("RawMessage", [])
    parsed = [_parse(raw) for raw in raw_messages]
    if message_id is not None:
        parsed = [m for m in parsed if m["message_id"] == message_id]
    if to is not None:
        parsed = [m for m in parsed if to.lower() in (a.lower() for a in m["to"])]
    return parsed


def sent_email(moto_endpoint: str, message_id: str) -> dict[str, Any]:
    """The one message SES answered with this MessageId."""
    found = read_sent_emails(moto_endpoint, message_id=message_id)
    assert len(found) == 1, f"expected one sent message {message_id}, found {len(found)}"
    return found[0]
