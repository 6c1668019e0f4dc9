"""SES v2 raw sends against moto's server, read back from /moto-api/data.json."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.email import MAX_RECIPIENTS, Attachment, MailRefused, send_email
from chalicelib.config import get_settings, reset_settings
from chalicelib.rendering import render_email

from .email_helpers import read_sent_emails, sent_email

pytestmark = pytest.mark.usefixtures("aws")

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%\xe2\xe3\xcf\xd3\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def inbox() -> str:
    return f"admin-{uuid.uuid4().hex[:8]}@example.org"


def test_text_html_and_attachment_arrive_as_one_message_with_three_parts(moto_endpoint):
    to = [inbox(), inbox()]
    message_id = send_email(
        to=to,
        subject="Your statement for November — Café Ltd",
        text="Closing balance: $12.50\nThank you.",
        html="<p>Closing balance: <strong>$12.50</strong></p>",
        attachments=[Attachment("statement-2026-11.pdf", "application/pdf", PDF)],
    )
    assert message_id

    sent = sent_email(moto_endpoint, message_id)
    assert sent["source"] == get_settings().sender == "billing@example.com"
    assert sent["from"] == "billing@example.com"
    assert sent["to"] == to
    assert set(sent["destinations"]) == set(to)
    assert sent["subject"] == "Your statement for November — Café Ltd"
    assert sent["content_type"] == "multipart/mixed"
    assert sent["leaf_types"] == ["text/plain", "text/html", "application/pdf"]
    assert [p.get_content_type() for p in sent["message"].iter_parts()] == ["multipart/alternative", "application/pdf"]
    assert sent["text"].strip() == "Closing balance: $12.50\nThank you."
    assert "<strong>$12.50</strong>" in sent["html"]
    assert sent["attachments"] == ["statement-2026-11.pdf"]
    assert sent["attachment_data"]["statement-2026-11.pdf"] == PDF
    assert read_sent_emails(moto_endpoint, to=to[1])[-1]["message_id"] == message_id


def test_text_only_read_back(moto_endpoint):
    to = [inbox()]
    message_id = send_email(to=to, subject="Plain", text="Just text, ünïcode.", reply_to="support@example.com")
    sent = sent_email(moto_endpoint, message_id)
    assert sent["content_type"] == "text/plain"
    assert sent["text"].strip() == "Just text, ünïcode."
    assert sent["html"] is None and sent["attachments"] == []
    assert sent["reply_to"] == "support@example.com"


def test_a_rendered_email_arrives_escaped(moto_endpoint):
    to = [inbox()]
    context = {
        "account_name": "<script>alert('x')</script> & Sons",
        "billing_account_id": "acct_1",
        "balance_micros": 8_204_999,
        "threshold_micros": 10_000_000,
        "currency": "USD",
        "runway_days": "4.5",
    }
    text, html = render_email("low_balance", **context)
    message_id = send_email(to=to, subject="Your balance is low", text=text, html=html)
    sent = sent_email(moto_endpoint, message_id)
    # css-inline re-serializes the document (quotes need no escaping in text)
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; Sons" in sent["html"]
    assert "<script>" not in sent["html"]
    assert "$8.20" in sent["text"] and "$8.20" in sent["html"]
    assert 'style="' in sent["html"]  # CSS inlined for email clients


@pytest.mark.parametrize(
    "subject",
    [
        "Receipt\r\nBcc: victim@example.net",
        "Receipt\nBcc: victim@example.net",
        "Receipt\rX-Injected: 1",
    ],
)
def test_header_injection_in_the_subject_is_refused(moto_endpoint, subject):
    before = len(read_sent_emails(moto_endpoint))
    with pytest.raises(ValueError, match="line breaks"):
        send_email(to=[inbox()], subject=subject, text="hello")
    assert len(read_sent_emails(moto_endpoint)) == before


@pytest.mark.parametrize(
    "to",
    [
        ["not-an-address"],
        ["a@example.com", "victim@example.net\r\nBcc: x@example.net"],
        ["Name <a@example.com>"],
        ["a@example.com, b@example.com"],
        [],
        [f"r{i}@example.com" for i in range(MAX_RECIPIENTS + 1)],
    ],
)
def test_bad_recipients_are_refused(moto_endpoint, to):
    before = len(read_sent_emails(moto_endpoint))
    with pytest.raises(ValueError):
        send_email(to=to, subject="Receipt", text="hello")
    assert len(read_sent_emails(moto_endpoint)) == before


def test_a_single_string_is_not_a_recipient_list():
    with pytest.raises(ValueError, match="list"):
        send_email(to="a@example.com", subject="Receipt", text="hello")  # type: ignore[arg-type]


def test_bad_reply_to_and_attachment_names_are_refused():
    with pytest.raises(ValueError, match="reply"):
        send_email(to=[inbox()], subject="s", text="t", reply_to="x@example.com\nBcc: y@example.com")
    with pytest.raises(ValueError):
        send_email(to=[inbox()], subject="s", text="t", attachments=[Attachment("../etc/passwd", "text/plain", b"")])
    with pytest.raises(ValueError):
        send_email(to=[inbox()], subject="s", text="t", attachments=[Attachment("a.pdf", "pdf", b"")])


def test_duplicate_recipients_are_sent_once(moto_endpoint):
    address = inbox()
    message_id = send_email(to=[address, address.upper()], subject="Receipt", text="hello")
    assert sent_email(moto_endpoint, message_id)["to"] == [address]


def test_the_configured_sender_is_used_and_ses_refuses_an_unverified_one(monkeypatch):
    monkeypatch.setenv("BILLING_SENDER", "not-verified@example.com")
    reset_settings()
    try:
        with pytest.raises(MailRefused) as raised:
            send_email(to=[inbox()], subject="Receipt", text="hello")
        assert raised.value.code == "MessageRejected"
        assert isinstance(raised.value.__cause__, ClientError)
    finally:
        monkeypatch.delenv("BILLING_SENDER")
        reset_settings()
