"""Outgoing mail over SMTP with the standard library; printed to the log while MAIL_SERVER is unset.

A request only queues its mail: a background job (``send_now``, see ``jobs``) hands it to the
server, so a slow or failing server neither slows the page nor loses the mail (the job is
tried again). Where jobs run inline (development, the tests) it is sent within the request.

``smtplib`` and ``email.message`` cover what the app needs (one message per call, plain
text with an HTML alternative, STARTTLS or TLS, login) in a few lines, with no extension
and no global state. Settings: MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USE_SSL,
MAIL_USERNAME, MAIL_PASSWORD, MAIL_DEFAULT_SENDER and MAIL_TIMEOUT.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

from {{ cookiecutter.package_name }}.core.logs import MAIL_PRINTED
from {{ cookiecutter.package_name }}.core.metrics import LazyMetric
from {{ cookiecutter.package_name }}.jobs import enqueue

# Mails handed to the mail server, and mails it could not take (the metrics page).
MAILS_SENT = LazyMetric("Counter", "mails_sent", "Mails handed to the mail server.")
MAILS_FAILED = LazyMetric("Counter", "mails_failed", "Mails the mail server could not take.")


class MailNotSent(Exception):
    """The mail server could not be reached, or it refused the message."""


def build_message(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A message from the configured sender: plain text, with an HTML alternative if given."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def deliver(message: EmailMessage) -> None:
    """Hand the message to the SMTP server; raise MailNotSent if that fails."""
    import smtplib  # here, not at start-up: most processes never send a mail

    config = current_app.config
    context = ssl.create_default_context()
    try:
        if config["MAIL_USE_SSL"]:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config["MAIL_SERVER"],
                config["MAIL_PORT"],
                timeout=config["MAIL_TIMEOUT"],
                context=context,
            )
        else:
            smtp = smtplib.SMTP(
                config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
            )
        with smtp:
            if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
                smtp.starttls(context=context)
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        MAILS_FAILED.inc()
        current_app.logger.error(
            "Mail %r to %s could not be sent: %s",
            message["Subject"],
            message["To"],
            exc,
            extra={"event": "mail_failed"},
        )
        raise MailNotSent(str(exc)) from exc
    MAILS_SENT.inc()


def send_now(to: str, subject: str, text: str, html: str | None = None) -> None:
    """The job that sends one mail; MailNotSent fails it, so it is tried again later.

    With no MAIL_SERVER (development) the mail is printed to the log instead: by the
    request where jobs run inline, by the job worker where they are queued.
    """
    if not current_app.config["MAIL_SERVER"]:
        current_app.logger.info(
            "MAIL_SERVER is unset, so this mail is printed here instead of sent:\n"
            "To: %s\nSubject: %s\n\n%s",
            to,
            subject,
            text,
            extra={"event": MAIL_PRINTED},
        )
        return
    deliver(build_message(to, subject, text, html))


def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Queue one mail for the job worker (sent, or printed, now where jobs run inline)."""
    enqueue(send_now, to, subject, text, html)
