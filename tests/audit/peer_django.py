"""A Django app for the auditor to examine, served by Django's own threaded dev server.

``/doc`` is a JSON view behind ``GZipMiddleware`` and ``ConditionalGetMiddleware``
(the stack Django's docs describe for conditional GETs); ``/edit`` is a JSON
view under ``@condition(etag_func=...)``, Django's decorator for conditional
writes, with a PUT that stores the body.

Run: ``python -m tests.audit.peer_django PORT``.
"""

from __future__ import annotations

import hashlib
import sys

import django
from django.conf import settings

DOCUMENT = b'{"title": "audited by ifmatch", "text": "' + b"conditional requests " * 60 + b'"}'

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="audit-tests-only",
    MIDDLEWARE=[
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.http.ConditionalGetMiddleware",
    ],
    USE_TZ=True,
    # No per-request log lines: tests/support/servers.running pipes stderr without reading
    # it, and a full pipe (about 1000 lines) would block the server.
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"django.server": {"level": "ERROR"}},
    },
)
django.setup()

from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import condition  # noqa: E402

_stored = {"body": DOCUMENT}


def doc(request: HttpRequest) -> HttpResponse:
    return HttpResponse(DOCUMENT, content_type="application/json")


def _etag(request: HttpRequest) -> str:
    return hashlib.sha256(_stored["body"]).hexdigest()[:16]


@csrf_exempt
@condition(etag_func=_etag)
def edit(request: HttpRequest) -> HttpResponse:
    if request.method == "PUT":
        _stored["body"] = request.body
        return HttpResponse(status=204, headers={"ETag": f'"{_etag(request)}"'})
    return HttpResponse(_stored["body"], content_type="application/json")


urlpatterns = [path("doc", doc), path("edit", edit)]

if __name__ == "__main__":
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    run("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), threading=True)
