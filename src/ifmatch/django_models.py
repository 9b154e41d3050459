"""Django models: validators from a version field or ``updated_at``, and a guarded write.

>>> resource = model_resource(note, version_field="version")        # doctest: +SKIP
>>> with guarded_write(Note.objects.filter(pk=key), request) as write:  # doctest: +SKIP
...     write.instance.body = payload        # the row, locked; preconditions passed
>>> response["ETag"] = str(write.resource.etag)                       # doctest: +SKIP

:func:`guarded_write` is the race-free write RFC 9110 §13.1.1 asks for: in
one ``transaction.atomic()`` it locks the row (``select_for_update()``: a row
lock on PostgreSQL, MySQL and Oracle; on SQLite set ``"OPTIONS":
{"transaction_mode": "IMMEDIATE"}`` (Django 5.1+) so that the transaction
takes the write lock at ``BEGIN`` and writers queue),
evaluates the request's preconditions against the *locked* row, raises
:class:`~ifmatch.guard.PreconditionFailed` (412) or
:class:`~ifmatch.guard.PreconditionRequired` (428) when they fail, and on a
clean exit bumps the version field (and ``updated_at``) and saves.  Two
clients that both send ``If-Match: "v1"`` cannot both write: the second
waits for the lock, then sees ``"v2"`` and gets its 412.  The exceptions
become responses through :class:`ifmatch.django.ConditionalMiddleware`
(``process_exception``) or :func:`ifmatch.django.error_response`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from ifmatch.django import _request_headers
from ifmatch.guard import check_preconditions
from ifmatch.hashing import etag_for_timestamp, etag_for_version
from ifmatch.preconditions import Resource


def model_resource(
    instance: models.Model | None,
    *,
    version_field: str | None = "version",
    modified_field: str | None = None,
) -> Resource:
    """The validators of a model instance (``Resource.missing()`` for ``None``).

    The ETag is strong, ``"v<version>"`` from ``version_field`` (an integer
    bumped on every write).  With ``version_field=None`` and a
    ``modified_field`` (``updated_at``) the ETag is built from that timestamp
    to the microsecond, so two writes within one second still differ; the
    field also gives ``Last-Modified``.
    """
    if instance is None:
        return Resource.missing()
    modified: datetime | None = getattr(instance, modified_field) if modified_field else None
    if version_field is not None:
        etag = etag_for_version(getattr(instance, version_field))
    elif modified is not None:
        etag = etag_for_timestamp(modified)
    else:
        raise ValueError("model_resource needs a version_field or a modified_field")
    return Resource(etag, modified)


@dataclass
class GuardedWrite:
    """What :func:`guarded_write` yields: the locked row and, after the block, its validators."""

    instance: models.Model | None
    #: The resource as the request found it (before the write).
    before: Resource
    #: The resource after the write (set when the block exits without an exception).
    resource: Resource = field(default_factory=Resource.missing)


@contextmanager
def guarded_write(
    queryset: models.QuerySet[Any],
    request: HttpRequest,
    *,
    version_field: str | None = "version",
    modified_field: str | None = None,
    require: bool = True,
    extra_headers: Iterable[tuple[str, str]] = (),
    using: str | None = None,
) -> Iterator[GuardedWrite]:
    """Lock the row ``queryset`` selects, check the preconditions, and save on success.

    ``queryset`` selects at most one row (``Note.objects.filter(pk=key)``).
    When there is none, ``write.instance`` is ``None`` and the block may
    create it (``If-None-Match: *`` makes that create-only).  After the block
    the version field is incremented (``F()`` is not used: the row is locked,
    so read-increment-write is exact), ``modified_field`` set to now, and the
    instance saved; ``write.resource`` holds the new validators.  The block's
    own exception rolls everything back.
    """
    database = using or queryset.db
    with transaction.atomic(using=database):
        instance = queryset.select_for_update().using(database).first()
        before = model_resource(
            instance, version_field=version_field, modified_field=modified_field
        )
        check_preconditions(
            (request.method or "GET").upper(),
            _request_headers(request),
            before,
            require=require,
            extra_headers=extra_headers,
        )
        write = GuardedWrite(instance, before)
        yield write
        saved = write.instance
        if saved is None:
            return
        if version_field is not None and instance is not None:
            setattr(saved, version_field, (getattr(saved, version_field) or 0) + 1)
        if modified_field is not None:
            setattr(saved, modified_field, timezone.now())
        saved.save(using=database)
        write.resource = model_resource(
            saved, version_field=version_field, modified_field=modified_field
        )
