"""Email: render a notification from the Jinja2 templates (text + HTML), and send a queued one over SMTP."""

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache
from pathlib import Path

from flask import current_app
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .attempts import Result
from .vocabulary import ORDER_WORDS, REASON_WORDS

# SMTP replies about authentication: a configuration problem, retried (not parked) until it is fixed.
AUTH_CODES = {530, 534, 535, 538}
TEMPLATES = Path(__file__).resolve().parent / "templates" / "email"


@lru_cache(maxsize=1)
def environment():
    """Templates under courier/templates/email; HTML ones are autoescaped, text ones are not."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def tracking_link(config, tracking_number):
    return f"{config['PUBLIC_BASE_URL']}/t/{tracking_number}"


def message_id(config, event_id, channel="email"):
    """A stable Message-ID: one per notification (an event has at most one email per recipient)."""
    address = parseaddr(config["MAIL_FROM"])[1]
    domain = address.rpartition("@")[2] or "courier.localhost"
    return f"<{event_id}.{channel}@{domain}>"


def _render(template, to, subject, event_id, config, **context):
    env = environment()
    context = {"subject": subject, **context}
    return {
        "to": to,
        "subject": subject,
        "text": env.get_template(f"{template}.txt").render(context),
        "html": env.get_template(f"{template}.html").render(context),
        "message_id": message_id(config, event_id),
    }


def order_email(event_type, event_id, order, to, name, config):
    """The payload of an order event's email: {"to", "subject", "text", "html", "message_id"}."""
    headline, status = ORDER_WORDS[event_type]
    tracking_number = order["tracking_number"]
    reason = REASON_WORDS.get(order.get("reason") or "") if event_type == "order.failed_attempt" else None
    return _render(
        "order_event",
        to,
        f"{headline} ({tracking_number})",
        event_id,
        config,
        name=name or "there",
        headline=headline,
        status=status,
        reason=reason,
        tracking_number=tracking_number,
        link=tracking_link(config, tracking_number),
    )


def issue_email(event_id, issue, to, name, config):
    """The payload of the email that tells whoever raised an issue about the admin's answer."""
    tracking_number = issue.get("tracking_number")
    return _render(
        "issue_answered",
        to,
        f"Your issue #{issue['issue_id']} has been answered",
        event_id,
        config,
        name=name or "there",
        issue_id=issue["issue_id"],
        message=issue["message"],
        response=issue["response"],
        status=issue["status"],
        tracking_number=tracking_number,
        link=tracking_link(config, tracking_number) if tracking_number else None,
    )


def build_message(payload, config):
    """The MIME message (multipart/alternative: text, then HTML) of a stored email payload."""
    msg = EmailMessage()
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    msg["Message-ID"] = payload["message_id"]
    msg["Date"] = formatdate(usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    return msg


def _failure(exc, code=None, permanent=False):
    return Result(False, status_code=code, error=f"{type(exc).__name__}: {exc}"[:1000], permanent=permanent)


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def send(row):
    """Send one queued email over SMTP; a 5xx refusal is permanent, anything else is retried."""
    config = current_app.config
    if not config["SMTP_HOST"]:
        return Result(False, error="SMTP_HOST is not set")
    msg = build_message(json.loads(row["payload"]), config)
    try:
        smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT_SECONDS"])
    except (OSError, smtplib.SMTPException) as exc:
        return _failure(exc)
    try:
        if config["SMTP_STARTTLS"] and _needs_tls(smtp, config["SMTP_HOST"]):
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        code = min(code for code, _ in exc.recipients.values())
        return _failure(exc, code, permanent=code >= 500)
    except smtplib.SMTPResponseException as exc:
        code = exc.smtp_code
        return _failure(exc, code, permanent=500 <= code < 600 and code not in AUTH_CODES)
    except (OSError, smtplib.SMTPException) as exc:
        return _failure(exc)
    finally:
        _close(smtp)
    return Result(True, status_code=250)


def _needs_tls(smtp, host):
    """STARTTLS is required, except with a relay on this machine that does not offer it (nothing leaves it)."""
    smtp.ehlo_or_helo_if_needed()
    return smtp.has_extn("starttls") or host not in LOOPBACK_HOSTS


def _close(smtp):
    """QUIT politely; once the message is accepted, a failing QUIT changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
