"""Reads the links Portcullis mails out of the maildir the external checks'
SMTP server (aiosmtpd's Mailbox handler) writes: one file per message in
`$CHECKS_MAILDIR/new`.

    token = wait_for_token(maildir, "ada@example.com", "Reset your password", "reset-password")
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

# The links carry a 256-bit token, base64url without padding: 43 characters.
TOKEN = re.compile(r"#token=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")
WAIT_SECONDS = 30.0


def messages_to(maildir: str, to: str, subject: str) -> list[email.message.EmailMessage]:
    """The delivered messages to `to` whose subject is `subject`."""
    found = []
    for path in Path(maildir, "new").glob("*"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == to and message["Subject"] == subject:
            found.append(message)
    return found


def link_token(message: email.message.EmailMessage, link: str) -> str:
    """The token of the link `link` (for instance `https://app.example.com/reset-password`)
    in the plain-text part of `message`; the HTML part must carry the same link."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    if text is None or html is None:
        raise ValueError(f"the message has no plain-text or no HTML part: {message}")
    body = text.get_content()
    start = body.find(link + "#token=")
    if start < 0:
        raise ValueError(f"no link {link}#token= in the message: {body}")
    match = TOKEN.match(body, start + len(link))
    if match is None:
        raise ValueError(f"the link {link} carries no 43-character token: {body}")
    token = match.group(1)
    if f"{link}#token={token}" not in html.get_content():
        raise ValueError(f"the HTML part does not carry the same link: {html.get_content()}")
    return token


def wait_for_token(maildir: str, to: str, subject: str, link: str) -> str:
    """Waits (up to WAIT_SECONDS: delivery happens after the answer) for one
    message to `to` with `subject`, and returns the token of its link."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = messages_to(maildir, to, subject)
        if len(found) > 1:
            raise ValueError(f"{len(found)} messages {subject!r} to {to}, want one")
        if found:
            return link_token(found[0], link)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no message {subject!r} to {to} arrived in {maildir}/new")
        time.sleep(0.1)
