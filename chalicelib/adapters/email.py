"""Email through SES v2: one MIME message (text, HTML, attachments), sent raw.

The message is built with the standard library's `email` package:

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8
        text/html; charset=utf-8
      <attachment> ...

(without attachments the alternative part is the whole message; without HTML the
text part is). It is sent from the configured, verified sender
(Settings.sender, env BILLING_SENDER). Addresses and the subject are checked
first: a bad address or a CR/LF in a header raises ValueError and nothing is sent.
SES refusing the message for good (an unverified sender, a rejected message) raises
`MailRefused`, a ValueError like the checks' (retrying cannot help); any other error from
SES (throttling, the network) propagates as it is, for the caller to retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from botocore.exceptions import ClientError

from ..config import get_settings
from ..domain.accounts import is_email_address
from .aws import client

# SES error codes that mean this message will never be sent as it is.
REFUSALS = ("MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException")
MAX_RECIPIENTS = 50  # SES: at most 50 recipients per message
MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SES v2: 40 MB per message, after encoding
MAX_SUBJECT_CHARS = 998  # RFC 5322 line length
# CRLF line ends, and 7-bit transfer encodings only (quoted-printable or base64 for
# anything not ASCII): the raw message survives any relay, and moto, which reads it
# back as text.
POLICY = SMTP.clone(cte_type="7bit")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


class MailRefused(ValueError):
    """SES refused the message for good: `code` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _no_line_breaks(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain line breaks (header injection)")


def _recipients(to: Sequence[str]) -> list[str]:
    if isinstance(to, str):
        raise ValueError("to must be a list of addresses, not one string")
    unique: list[str] = []
    seen: set[str] = set()
    for address in to:
        if not isinstance(address, str) or not is_email_address(address):
            raise ValueError(f"not a valid email address: {address!r}")
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    if not 1 <= len(unique) <= MAX_RECIPIENTS:
        raise ValueError(f"an email needs 1 to {MAX_RECIPIENTS} recipients, got {len(unique)}")
    return unique


def _split_content_type(content_type: str) -> tuple[str, str]:
    maintype, slash, subtype = content_type.strip().lower().partition("/")
    if not slash or not maintype or not subtype or any(c in content_type for c in "\r\n;"):
        raise ValueError(f"not a content type: {content_type!r}")
    return maintype, subtype


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    reply_to: str | None = None,
) -> EmailMessage:
    """The MIME message send_email sends; validates everything (ValueError)."""
    recipients = _recipients(to)
    _no_line_breaks(subject, "subject")
    if not subject.strip():
        raise ValueError("subject must not be empty")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"subject is longer than {MAX_SUBJECT_CHARS} characters")
    _no_line_breaks(sender, "sender")
    if reply_to is not None:
        _no_line_breaks(reply_to, "reply_to")
        if not is_email_address(reply_to):
            raise ValueError(f"not a valid reply-to address: {reply_to!r}")

    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2].rstrip(">").strip() or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments:
        _no_line_breaks(attachment.filename, "attachment filename")
        if not attachment.filename.strip() or "/" in attachment.filename or "\\" in attachment.filename:
            raise ValueError(f"not a plain file name: {attachment.filename!r}")
        maintype, subtype = _split_content_type(attachment.content_type)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


def send_email(
    *,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    reply_to: str | None = None,
) -> str:
    """Send one message through SES v2 (raw content); returns SES's MessageId."""
    sender = get_settings().sender
    message = build_message(
        sender=sender, to=to, subject=subject, text=text, html=html, attachments=attachments, reply_to=reply_to
    )
    data = message.as_bytes(policy=POLICY)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"the message is {len(data)} bytes; SES takes at most {MAX_MESSAGE_BYTES}")
    recipients = _recipients(to)
    try:
        response = client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": recipients},
            Content={"Raw": {"Data": data}},  # Reply-To travels in the raw headers
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in REFUSALS:
            raise MailRefused(code, str(exc)) from exc
        raise
    return str(response["MessageId"])
