"""Route declarations: everything the outside needs to know about a route, written once, above its handler.

    route = routes.Declarer(api)            # once, in app1.py

    @route("POST", "/admin/cancel-order/<int:order_id>", tag="Admin", roles=(ADMIN,),
           body=schemas.CANCEL, body_optional=True, responses={200: "OrderResult"}, errors=(409,))
    def admin_cancel_order(order_id, caller, body):
        \"\"\"An admin cancels any order that is not final.\"\"\"      # the operation's summary
        ...

One declaration registers the handler with Flask and, on every request, before the handler runs:

- ``roles``: checks the bearer token with auth.require_role (no token 401, another role 403) and hands the
  handler ``caller`` (if it takes that argument). No roles: no login. ``refresh=True``: the route takes the
  refresh token instead of the access token.
- ``body``: validates the JSON body against that schema of courier/schemas.py (400 naming each field) and
  hands it over as ``body``; ``body_optional=True`` allows no body at all (``{}``). A ``oneOf`` schema is
  only checked to be a JSON object: the handler picks the branch (validation.validate) itself.
- ``query``: reads the query parameters in the order given (400 naming the bad one) and hands them over as
  ``query``, a dict by name (``page`` for list_params: the parsed limit/sort/cursor). Parameters made with
  documented() are only published; something else reads them.
- ``limits``: Flask-Limiter decorators, checked before anything else.

The OpenAPI document (courier/openapi.py) is generated from these declarations and Flask's url_map: path
parameters come from the rule, their schemas from PATH_PARAMETERS below. ``responses`` maps the success
status to a response schema name in openapi.RESPONSE_SCHEMAS (or a content map); ``errors`` lists the
error statuses beyond the ones every route of its kind gives (see openapi.error_statuses).
"""

import inspect
from dataclasses import dataclass, field
from functools import wraps

from . import pagination, schemas
from .auth import require_role
from .validation import choice_arg, datetime_arg, int_arg, json_body, optional_json_body, strict_query

ID = {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}
STR = {"type": "string"}
DATE = {
    "type": "string",
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
    "description": "A date (2026-01-31) or an RFC 3339 date-time (2026-01-31T12:00:00Z); anything else is a 400",
}
CURSOR = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1000,
    "pattern": pagination.CURSOR_PATTERN,
    "description": "Opaque: the previous page's next_cursor (same sort); any other value is a 400",
}


@dataclass(frozen=True)
class Query:
    """One value the handler gets in ``query[key]``, read by ``read()``, published as ``params``."""

    key: str
    params: tuple  # OpenAPI parameter objects
    read: object = None  # a callable; None: documented only


@dataclass(frozen=True)
class Route:
    """One operation: who may call it, what it takes, and what it answers."""

    method: str
    rule: str
    tag: str
    summary: str
    roles: tuple = ()
    refresh: bool = False
    body: dict | None = None
    body_optional: bool = False
    query: tuple = ()
    responses: dict = field(default_factory=dict)
    errors: tuple = ()
    headers: dict = field(default_factory=dict)  # response headers: name -> description
    needs_database: bool = True
    upload: dict | None = None  # a body other than JSON, read by the handler: {media type: schema}
    rate_limited: bool = False  # it has limits of its own (X-RateLimit-* headers on every answer)


def param(name, schema, description, where="query", required=False):
    """An OpenAPI parameter object."""
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def documented(name, schema, description, where="query"):
    """A parameter that is only published: the handler or a service reads it."""
    return Query(name, (param(name, schema, description, where),))


def choice(name, values, description, default=None):
    schema = {"enum": list(values)}
    if default is not None:
        schema["default"] = default
    return Query(name, (param(name, schema, description),), lambda: choice_arg(name, values) or default)


def identifier(name, description):
    return Query(name, (param(name, ID, description),), lambda: int_arg(name))


def moment(name, description, end_of_day=False):
    """An ISO 8601 date or date-time; a date means its start (or, with end_of_day, its end)."""
    return Query(name, (param(name, DATE, description),), lambda: datetime_arg(name, end_of_day=end_of_day))


def list_params(sorts, default_sort):
    """?limit=, ?cursor= and ?sort= of a keyset-paginated list; ``sorts`` maps each sort to its key types."""
    limit = {
        "type": "integer",
        "minimum": 1,
        "maximum": pagination.MAX_LIMIT,
        "default": pagination.DEFAULT_LIMIT,
    }
    params = (
        param(
            "limit",
            limit,
            f"Items per page, {pagination.DEFAULT_LIMIT} by default, at most {pagination.MAX_LIMIT} (more: 400)",
        ),
        param(
            "cursor", CURSOR, "Opaque: the previous page's next_cursor (same sort); absent for the first page"
        ),
        param(
            "sort",
            {"enum": list(sorts), "default": default_sort},
            "Sort order (a leading '-' means descending)",
        ),
    )
    return Query("page", params, lambda: pagination.page_args(sorts, default_sort))


def _accepts(handler):
    return set(inspect.signature(handler).parameters)


class Declarer:
    """``route = Declarer(blueprint)``; then ``@route(method, rule, ...)`` above each handler."""

    def __init__(self, blueprint):
        self.blueprint = blueprint

    def __call__(
        self,
        method,
        rule,
        *,
        tag,
        roles=(),
        refresh=False,
        body=None,
        body_optional=False,
        query=(),
        responses,
        errors=(),
        headers=None,
        limits=(),
        needs_database=True,
        upload=None,
    ):
        def decorate(handler):
            summary = (inspect.getdoc(handler) or "").split("\n")[0]
            declared = Route(
                method.upper(),
                rule,
                tag,
                summary,
                tuple(roles),
                refresh,
                body,
                body_optional,
                tuple(query),
                dict(responses),
                tuple(errors),
                dict(headers or {}),
                needs_database,
                upload,
                bool(limits),
            )
            takes = _accepts(handler)
            wants_caller = "caller" in takes
            readers = [q for q in query if q.read is not None]
            if wants_caller and not roles:
                raise TypeError(f"{handler.__name__} takes caller: declare the roles allowed")
            for name, given in (("body", body is not None), ("query", readers)):
                if (name in takes) != bool(given):
                    raise TypeError(
                        f"{handler.__name__}: takes {name!r} if and only if its route declares it"
                    )
            choose_later = body is not None and "oneOf" in body
            query_names = [p["name"] for q in query for p in q.params if p["in"] == "query"]

            @wraps(handler)
            def view(**kwargs):
                if roles:
                    caller = require_role(*roles, refresh=refresh)
                    if wants_caller:
                        kwargs["caller"] = caller
                if query_names:
                    strict_query(query_names)
                if body is not None:
                    if choose_later:
                        kwargs["body"] = json_body({"type": "object"})
                    else:
                        kwargs["body"] = optional_json_body(body) if body_optional else json_body(body)
                if readers:
                    kwargs["query"] = {q.key: q.read() for q in readers}
                return handler(**kwargs)

            for limit in reversed(limits):
                view = limit(view)
            view.declaration = declared
            self.blueprint.add_url_rule(rule, handler.__name__, view, methods=[declared.method])
            return view

        return decorate


def declaration(app, endpoint):
    """The Route declared for an endpoint of the app, or None (e.g. Flask's static files)."""
    view = app.view_functions.get(endpoint)
    return getattr(view, "declaration", None)
