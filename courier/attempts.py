"""The outcome of one delivery attempt: what every channel's send function (mailer, sms, webhooks) returns."""

from dataclasses import dataclass


@dataclass
class Result:
    ok: bool
    status_code: int | None = None  # HTTP status (webhooks) or SMTP reply code (email)
    error: str | None = None
    permanent: bool = False  # True: retrying cannot help (e.g. the endpoint was deleted)
