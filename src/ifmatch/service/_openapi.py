"""The OpenAPI 3.0 description served at ``/openapi.json``, written by hand.

It documents what the handlers really send: every error as problem+json,
the validators on every representation, the conditional request fields on
every operation, and the statuses preconditions produce (304, 412, 428).
The test suite runs schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from ifmatch import __version__
from ifmatch.service._pages import MAX_LIMIT
from ifmatch.service.settings import Settings

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COLLECTIONS_REF = {"$ref": "#/components/schemas/Collections"}
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content (one range, or multipart/byteranges)",
    304: "Not Modified (If-None-Match or If-Modified-Since, RFC 9110 §13.1.2-3)",
    400: "Bad Request: invalid JSON, name or path",
    401: "Unauthorized: a bearer token is required",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict: the patch does not apply (RFC 5789 §2.2)",
    412: "Precondition Failed (RFC 9110 §13.1); ETag carries the current tag",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content: the patched document would be too large",
    428: "Precondition Required (RFC 6585 §3): send If-Match",
}


def _header(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    }


_CONDITIONAL = {
    "IfMatch": _header(
        "If-Match", "RFC 9110 §13.1.1: proceed only if a tag matches (strongly)", '"v1"'
    ),
    "IfNoneMatch": _header(
        "If-None-Match", "RFC 9110 §13.1.2: `*` makes a PUT create-only", '"v1"'
    ),
    "IfModifiedSince": _header(
        "If-Modified-Since", "RFC 9110 §13.1.3 (GET/HEAD)", "Sun, 06 Nov 1994 08:49:37 GMT"
    ),
    "IfUnmodifiedSince": _header(
        "If-Unmodified-Since", "RFC 9110 §13.1.4", "Sun, 06 Nov 1994 08:49:37 GMT"
    ),
    "IfRange": _header("If-Range", "RFC 9110 §13.1.5: honour Range only if unchanged", '"v1"'),
    "Range": _header("Range", "RFC 9110 §14.2: bytes=first-last, several allowed", "bytes=0-4"),
}
_READ_FIELDS = ["IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince"]
_WRITE_FIELDS = ["IfMatch", "IfNoneMatch", "IfUnmodifiedSince"]
_VALIDATOR_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "strong entity-tag of this version"},
    "Last-Modified": {"schema": {"type": "string"}, "description": "IMF-fixdate"},
    "Cache-Control": {"schema": {"type": "string"}, "description": "no-cache"},
}


def _path_name(name: str, example: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _NAME, "example": example}


def _refs(names: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
        }
        for status in statuses
    }


def _ok(status: int, media: str | None, schema: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _DESCRIPTIONS[status], "headers": _VALIDATOR_HEADERS}
    if media is not None:
        response["content"] = {media: {"schema": schema or {}}}
    return response


def _not_modified() -> dict[str, Any]:
    return {"304": {"description": _DESCRIPTIONS[304], "headers": _VALIDATOR_HEADERS}}


def _json_body(media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


def _operation(summary: str, parameters: list[str], responses: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "parameters": _refs(parameters), "responses": responses}


def _head_operation(summary: str) -> dict[str, Any]:
    """A HEAD: GET's statuses without bodies (HEAD responses carry no problem documents)."""
    return _operation(
        summary,
        _READ_FIELDS,
        {
            "200": _ok(200, None, None),
            **_not_modified(),
            "404": {"description": "Not Found"},
            "400": {"description": "Bad Request"},
            "412": {"description": _DESCRIPTIONS[412]},
        },
    )


def _delete_operation(summary: str) -> dict[str, Any]:
    """A DELETE: 204, or the problems of a write (428 when it carries no precondition)."""
    return _operation(
        summary,
        _WRITE_FIELDS,
        {"204": {"description": "Deleted"}, **_problems(400, 404, 412, 428)},
    )


def _document_path() -> dict[str, Any]:
    document = {"$ref": "#/components/schemas/Document"}
    get = _operation(
        "Read a document",
        _READ_FIELDS,
        {
            "200": _ok(200, "application/json", document),
            **_not_modified(),
            **_problems(400, 404, 412),
        },
    )
    head = _head_operation("Read a document's headers")
    put = _operation(
        "Create or replace a document (If-None-Match: * to create only, If-Match to replace)",
        _WRITE_FIELDS,
        {
            "200": _ok(200, "application/json", document),
            "201": _ok(201, "application/json", document),
            **_problems(400, 412, 413, 415, 428),
        },
    )
    put["requestBody"] = _json_body("application/json", document)
    patch = _operation(
        "Patch a document: RFC 7396 merge patch or RFC 6902 JSON Patch, all or nothing",
        _WRITE_FIELDS,
        {
            "200": _ok(200, "application/json", document),
            **_problems(400, 404, 409, 412, 413, 415, 422, 428),
        },
    )
    patch["requestBody"] = {
        "required": True,
        "content": {
            "application/merge-patch+json": {"schema": document},
            "application/json-patch+json": {"schema": {"$ref": "#/components/schemas/JSONPatch"}},
        },
    }
    delete = _delete_operation("Delete a document")
    return {
        "parameters": [
            _path_name("collection", "notes"),
            _path_name("id", "hello"),
        ],
        "get": get,
        "head": head,
        "put": put,
        "patch": patch,
        "delete": delete,
    }


_PAGING = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": (
            "Ask for one page of at most this many members, in id order, instead of the "
            'whole collection; its ETag is the page\'s own, and Link rel="next" '
            "(RFC 8288) names the next page while there is one. Past the maximum: 400."
        ),
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        "example": 100,
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": (
            "Where a page starts: opaque, taken unchanged from the previous page's "
            'Link rel="next" (or its `next`); only with limit. Malformed: 400.'
        ),
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,172}$"},
    },
]
_LINK_HEADER = {
    "schema": {"type": "string"},
    "description": 'pages only, while a next page exists: </api/{collection}?...>; rel="next"',
}


def _collection_path() -> dict[str, Any]:
    listing = {"$ref": "#/components/schemas/Listing"}
    document = {"$ref": "#/components/schemas/Document"}
    get = _operation(
        "List a collection, or one page of it (limit, cursor); the collection's ETag changes "
        "whenever any member changes, a page's whenever that page changes (poll with 304s)",
        _READ_FIELDS,
        {"200": _ok(200, "application/json", listing), **_not_modified(), **_problems(400, 412)},
    )
    get["parameters"] += _PAGING
    for status in ("200", "304"):
        get["responses"][status]["headers"] = {**_VALIDATOR_HEADERS, "Link": _LINK_HEADER}
    post = _operation(
        "Create a document with a server-chosen id",
        ["IfMatch", "IfNoneMatch"],
        {"201": _ok(201, "application/json", document), **_problems(400, 412, 413, 415)},
    )
    post["requestBody"] = _json_body("application/json", document)
    return {
        "parameters": [_path_name("collection", "notes")],
        "get": get,
        "post": post,
    }


def _file_path() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    get = _operation(
        "Download a file; Range, If-Range and multipart ranges supported",
        [*_READ_FIELDS, "IfRange", "Range"],
        {
            "200": _ok(200, "*/*", binary),
            "206": _ok(206, "*/*", binary),
            **_not_modified(),
            **_problems(400, 404, 412, 416),
        },
    )
    head = _head_operation("A file's headers")
    put = _operation(
        "Upload a file (stored with its Content-Type, in one transaction)",
        _WRITE_FIELDS,
        {
            "201": {"description": "Created", "headers": _VALIDATOR_HEADERS},
            "204": {"description": "Replaced", "headers": _VALIDATOR_HEADERS},
            **_problems(400, 412, 413, 415, 428),
        },
    )
    put["requestBody"] = {
        "required": True,
        "content": {"application/octet-stream": {"schema": binary}},
    }
    delete = _delete_operation("Delete a file")
    return {
        "parameters": [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"},
                "example": "hello.txt",
            }
        ],
        "get": get,
        "head": head,
        "put": put,
        "delete": delete,
    }


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON Schema object: the ``required`` properties, then the ``optional`` ones."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _schemas() -> dict[str, Any]:
    string = {"type": "string"}
    pointer = {"type": "string", "description": "RFC 6901 JSON Pointer"}
    problem = _object(
        {"type": string, "title": string, "status": {"type": "integer"}, "detail": string},
        {
            "precondition": {"type": "string", "description": "the field that failed"},
            "current_etag": string,
        },
    )
    item = _object(
        {
            "id": string,
            "etag": string,
            "last_modified": string,
            "document": {"$ref": "#/components/schemas/Document"},
        }
    )
    collection = _object(
        {"name": string, "documents": {"type": "integer", "minimum": 1}, "etag": string}
    )
    operation = _object(
        {"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]}, "path": pointer},
        {"from": pointer, "value": {}},
    )
    return {
        "Document": {"description": "any JSON value"},
        "Problem": {"description": "RFC 9457 problem details", **problem},
        "Listing": _object(
            {"collection": string, "items": _array(item)},
            {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "description": (
                        "pages only: the next page (as in Link rel=next), null on the last"
                    ),
                }
            },
        ),
        "Collections": _object({"collections": _array(collection)}),
        "JSONPatch": _array(operation),
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for a service run with ``settings``."""
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "ifmatch reference service",
            "version": __version__,
            "description": (
                "A versioned JSON document and file store with atomic conditional writes "
                "(RFC 9110 §13). Writes to existing resources need If-Match unless the "
                "service runs with --no-require-preconditions."
            ),
        },
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Health check",
                    "responses": {
                        "200": {
                            "description": "the database answers",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api": {
                "get": _operation(
                    "List the collections that hold documents (the ETag changes with any write)",
                    _READ_FIELDS,
                    {
                        "200": _ok(200, "application/json", _COLLECTIONS_REF),
                        **_not_modified(),
                        **_problems(412),
                    },
                )
            },
            "/api/{collection}": _collection_path(),
            "/api/{collection}/{id}": _document_path(),
            "/files/{path}": _file_path(),
        },
        "components": {"schemas": _schemas(), "parameters": _CONDITIONAL},
    }
    if settings.token:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document
