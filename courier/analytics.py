"""Admin analytics over a date range. STUB: to be implemented (issue 8, item 1)."""


def summary(date_from, date_to):
    raise NotImplementedError
