"""The web console and the public tracking page. STUB: to be implemented (issue 8, item 3)."""


def index():
    raise NotImplementedError


def tracking_page(tracking_number):
    raise NotImplementedError
