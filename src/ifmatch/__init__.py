"""ifmatch: HTTP conditional requests (RFC 9110 §8.8, §13, §14), done completely and correctly.

This package is the sans-IO core: pure functions and small value types, no
sockets, no framework imports, no third-party dependencies.  Adapters
(:mod:`ifmatch.asgi`, :mod:`ifmatch.wsgi`, :mod:`ifmatch.django`, ...) live in
their own modules and import the core, never the other way round.

>>> from ifmatch import Conditions, Resource, ETag, evaluate
>>> decision = evaluate("PUT", Conditions(if_match='"v1"'), Resource(ETag("v2")))
>>> decision.status, decision.field
(412, 'If-Match')
"""

from ifmatch.conditions import Conditions
from ifmatch.dates import format_http_date, parse_http_date, wire_seconds
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag, ETagList
from ifmatch.hashing import ContentHasher, etag_for_content, etag_for_version
from ifmatch.notmodified import not_modified_headers
from ifmatch.preconditions import SAFE_METHODS, Decision, Outcome, Resource, evaluate
from ifmatch.problem import PROBLEM_JSON, decision_problem, problem
from ifmatch.ranges import ByteRange, RangePlan, RangeSpec, coalesce, parse_range, plan_ranges

__version__ = "0.1.0"

__all__ = [
    "PROBLEM_JSON",
    "SAFE_METHODS",
    "ByteRange",
    "Conditions",
    "ContentHasher",
    "Decision",
    "ETag",
    "ETagList",
    "HeaderParseError",
    "Outcome",
    "RangePlan",
    "RangeSpec",
    "Resource",
    "coalesce",
    "decision_problem",
    "etag_for_content",
    "etag_for_version",
    "evaluate",
    "format_http_date",
    "not_modified_headers",
    "parse_http_date",
    "parse_range",
    "plan_ranges",
    "problem",
    "wire_seconds",
]
