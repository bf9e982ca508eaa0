"""Webhook endpoints: registration, signed deliveries (HMAC-SHA256), and disabling after failures.

STUB: to be implemented (issue 7, item 5).
"""


def create(admin, url, events, description=None):
    raise NotImplementedError


def list_webhooks(page):
    raise NotImplementedError


def get_webhook(webhook_id, deliveries=False):
    raise NotImplementedError


def delete(webhook_id):
    raise NotImplementedError


def enable(webhook_id):
    raise NotImplementedError


def send_test(webhook_id):
    raise NotImplementedError
