"""SMS: a provider interface, a registry of providers by name (SMS_PROVIDER), and the text of each message.

Nothing is queued until SMS_PROVIDER names a known provider. "log" writes each SMS to the app log (logger
"courier.sms"), for development. A real provider is a Provider subclass added with register().
"""

import json
import logging

from flask import current_app

from .attempts import Result
from .vocabulary import ORDER_PHRASES, REASON_PHRASES

log = logging.getLogger("courier.sms")

MAX_LENGTH = 160  # one SMS in the GSM 03.38 7-bit alphabet
# The GSM 03.38 basic character set (one septet each; the escape and its extension table are left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


class UnknownProvider(ValueError):
    """SMS_PROVIDER names no registered provider."""


class Provider:
    """The SMS provider interface: send(to, text) -> notifications.Result."""

    def __init__(self, config):
        self.config = config

    def send(self, to, text):
        raise NotImplementedError


class LogProvider(Provider):
    """Writes each SMS to the app log instead of sending it (development)."""

    def send(self, to, text):
        log.info("SMS to %s: %s", to, text)
        return Result(True)


PROVIDERS = {"log": LogProvider}


def register(name, provider_class):
    """Make a provider available as SMS_PROVIDER=<name>."""
    PROVIDERS[name] = provider_class


def provider(config):
    """The configured provider, None when SMS_PROVIDER is empty; UnknownProvider for an unknown name."""
    name = (config.get("SMS_PROVIDER") or "").strip()
    if not name:
        return None
    if name not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProvider(f"Unknown SMS_PROVIDER {name!r}: use one of {known}, or leave it empty")
    return PROVIDERS[name](config)


def enabled(config):
    """Whether SMS are queued: a known provider is configured (an unknown one queues nothing)."""
    try:
        return provider(config) is not None
    except UnknownProvider as exc:
        log.error("%s; no SMS is queued", exc)
        return False


def is_gsm7(text):
    return all(ch in GSM7_BASIC for ch in text)


def order_text(event_type, tracking_number, reason, config):
    """One SMS (GSM-7, at most 160 characters): the parcel, what happened, and the tracking link if it fits."""
    phrase = ORDER_PHRASES[event_type]
    if event_type == "order.failed_attempt" and reason in REASON_PHRASES:
        phrase += f" ({REASON_PHRASES[reason]})"
    text = f"Parcel {tracking_number} {phrase}."
    if not is_gsm7(text):  # cannot happen with our tracking numbers; keep the promise anyway
        text = "".join(ch if ch in GSM7_BASIC else "?" for ch in text)
    link = f" Track: {config['PUBLIC_BASE_URL']}/t/{tracking_number}"
    if is_gsm7(link) and len(text) + len(link) <= MAX_LENGTH:
        text += link
    return text[:MAX_LENGTH]


def send(row):
    """Send one queued SMS with the configured provider."""
    payload = json.loads(row["payload"])
    try:
        sender = provider(current_app.config)
    except UnknownProvider as exc:
        return Result(False, error=str(exc))
    if sender is None:
        return Result(False, error="SMS_PROVIDER is not set")
    return sender.send(payload["to"], payload["text"])
