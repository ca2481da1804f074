"""Sending e-mail through the SMTP server in the settings (SMTP_HOST, SMTP_PORT, SMTP_SECURITY,
SMTP_USERNAME, SMTP_PASSWORD, MAIL_FROM). With no SMTP_HOST nothing is sent and pages say so."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Mapping


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


def mail_configured(settings: Mapping[str, Any]) -> bool:
    """True when reset links can be mailed: an SMTP server, and PUBLIC_BASE_URL so that a link
    never takes its host from the request (a forged Host header would send the token elsewhere)."""
    return bool(settings.get("SMTP_HOST")) and bool(settings.get("PUBLIC_BASE_URL"))


def send_mail(settings: Mapping[str, Any], to: str, subject: str, body: str, *, timeout_s: float = 15.0) -> None:
    """Send one plain-text UTF-8 message; raises MailError when the server fails."""
    message = EmailMessage()
    message["From"] = settings.get("MAIL_FROM") or f"sachnoi@{settings['SMTP_HOST']}"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    host, port = settings["SMTP_HOST"], int(settings["SMTP_PORT"])
    security = str(settings["SMTP_SECURITY"]).lower()  # none | starttls | ssl
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout_s, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout_s)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.get("SMTP_USERNAME"):
                client.login(settings["SMTP_USERNAME"], settings.get("SMTP_PASSWORD") or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{exc.__class__.__name__}: {exc}") from exc
