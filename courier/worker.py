"""`flask --app app1 worker`: deliver queued notifications (claims rows with FOR UPDATE SKIP LOCKED).

STUB: to be implemented (issue 7, item 2).
"""


def init_app(app):
    """Register the worker CLI command."""
