"""CSV export of orders, streamed. STUB: to be implemented (issue 8, item 2)."""


def orders_csv(where, args):
    raise NotImplementedError
