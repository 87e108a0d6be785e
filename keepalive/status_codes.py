"""``keepalive.codes``: HTTP status codes by name, as ``requests.codes`` spells them.

``codes.ok == 200``, ``codes.not_found == 404``, ``codes["OK"] == 200``. Every name of the
standard library's ``http.HTTPStatus`` is there in lower and upper case, plus the aliases
requests users write (``codes.okay``, ``codes.moved``, ``codes.teapot``, ``codes.too_many``...).
As in requests, an unknown name is ``None`` by subscript and an ``AttributeError`` as an
attribute, and where requests gives a name another code than ``http.HTTPStatus`` does
(``request_uri_too_long``: 122, Microsoft's), requests' meaning is kept.
"""

from __future__ import annotations

import http
from collections.abc import Iterator

__all__ = ["StatusCodes", "codes"]

# requests' names beyond http.HTTPStatus's, by code. Later entries win a name that appears
# twice ("precondition" is 428, not 412), as they do in requests.
_ALIASES: dict[int, tuple[str, ...]] = {
    100: ("continue",),
    101: ("switching_protocols",),
    102: ("processing", "early-hints"),
    103: ("checkpoint",),
    122: ("uri_too_long", "request_uri_too_long"),
    200: ("ok", "okay", "all_ok", "all_okay", "all_good", "\\o/", "✓"),
    201: ("created",),
    202: ("accepted",),
    203: ("non_authoritative_info", "non_authoritative_information"),
    204: ("no_content",),
    205: ("reset_content", "reset"),
    206: ("partial_content", "partial"),
    207: ("multi_status", "multiple_status", "multi_stati", "multiple_stati"),
    208: ("already_reported",),
    226: ("im_used",),
    300: ("multiple_choices",),
    301: ("moved_permanently", "moved", "\\o-"),
    302: ("found",),
    303: ("see_other", "other"),
    304: ("not_modified",),
    305: ("use_proxy",),
    306: ("switch_proxy",),
    307: ("temporary_redirect", "temporary_moved", "temporary"),
    308: ("permanent_redirect", "resume_incomplete", "resume"),
    400: ("bad_request", "bad"),
    401: ("unauthorized",),
    402: ("payment_required", "payment"),
    403: ("forbidden",),
    404: ("not_found", "-o-"),
    405: ("method_not_allowed", "not_allowed"),
    406: ("not_acceptable",),
    407: ("proxy_authentication_required", "proxy_auth", "proxy_authentication"),
    408: ("request_timeout", "timeout"),
    409: ("conflict",),
    410: ("gone",),
    411: ("length_required",),
    412: ("precondition_failed", "precondition"),
    413: ("request_entity_too_large", "content_too_large"),
    414: ("request_uri_too_large", "uri_too_long"),
    415: ("unsupported_media_type", "unsupported_media", "media_type"),
    416: ("requested_range_not_satisfiable", "requested_range", "range_not_satisfiable"),
    417: ("expectation_failed",),
    418: ("im_a_teapot", "teapot", "i_am_a_teapot"),
    421: ("misdirected_request",),
    422: ("unprocessable_entity", "unprocessable", "unprocessable_content"),
    423: ("locked",),
    424: ("failed_dependency", "dependency"),
    425: ("unordered_collection", "unordered", "too_early"),
    426: ("upgrade_required", "upgrade"),
    428: ("precondition_required", "precondition"),
    429: ("too_many_requests", "too_many"),
    431: ("header_fields_too_large", "fields_too_large"),
    444: ("no_response", "none"),
    449: ("retry_with", "retry"),
    450: ("blocked_by_windows_parental_controls", "parental_controls"),
    451: ("unavailable_for_legal_reasons", "legal_reasons"),
    499: ("client_closed_request",),
    500: ("internal_server_error", "server_error", "/o\\", "✗"),
    501: ("not_implemented",),
    502: ("bad_gateway",),
    503: ("service_unavailable", "unavailable"),
    504: ("gateway_timeout",),
    505: ("http_version_not_supported", "http_version"),
    506: ("variant_also_negotiates",),
    507: ("insufficient_storage",),
    509: ("bandwidth_limit_exceeded", "bandwidth"),
    510: ("not_extended",),
    511: ("network_authentication_required", "network_auth", "network_authentication"),
}


def _names() -> dict[str, int]:
    """Every name: the standard library's first, then requests' aliases over them."""
    names: dict[str, int] = {}
    for status in http.HTTPStatus:
        names[status.name.lower()] = names[status.name] = status.value
    for code, aliases in _ALIASES.items():
        for name in aliases:
            names[name] = code
            # requests adds the upper case of every name but the two drawn ones.
            if not name.startswith(("\\", "/")):
                names[name.upper()] = code
    return names


class StatusCodes:
    """Status codes by name: ``codes.ok``, ``codes["not_found"]``, ``codes.get("teapot")``.

    Subscript and ``get`` give ``None`` (or the default) for a name that is not a status,
    as requests' ``LookupDict`` does; attribute access raises ``AttributeError``.
    """

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name = _names()

    def __getattr__(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(f"no HTTP status is called {name!r}") from None

    def __getitem__(self, name: str) -> int | None:
        return self._by_name.get(name)

    def get(self, name: str, default: int | None = None) -> int | None:
        """The code called ``name``, else ``default``."""
        return self._by_name.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __dir__(self) -> list[str]:
        return sorted(n for n in self._by_name if n.isidentifier())

    def __repr__(self) -> str:
        return "<lookup 'status_codes'>"


codes = StatusCodes()
