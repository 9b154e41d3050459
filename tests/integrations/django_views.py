"""Class-based views guarded through ``method_decorator``: Django's ``View`` and Django REST
Framework's ``APIView`` (ROOT_URLCONF for tests/integrations/test_django_async.py)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ifmatch import Resource, etag_for_version
from ifmatch.django import preconditions
from ifmatch.guard import check_preconditions

NOTES: dict[str, dict[str, Any]] = {}


def current(request: HttpRequest, key: str) -> Resource:
    note = NOTES.get(key)
    return Resource.missing() if note is None else Resource(etag_for_version(note["version"]))


guard = preconditions(current, require=True)


def _save(key: str, body: Any) -> dict[str, Any]:
    note = NOTES.setdefault(key, {"version": 0})
    note["body"] = body
    note["version"] += 1
    return note


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(guard, name="get")
@method_decorator(guard, name="put")
class NoteView(View):  # type: ignore[misc]  # Django and DRF ship no types
    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        if key not in NOTES:
            return HttpResponse(status=404)
        return JsonResponse(NOTES[key]["body"])

    def put(self, request: HttpRequest, key: str) -> HttpResponse:
        note = _save(key, json.loads(request.body))
        return JsonResponse(note["body"], headers={"ETag": str(etag_for_version(note["version"]))})


class NoteAPIView(APIView):  # type: ignore[misc]
    authentication_classes: tuple[Any, ...] = ()
    permission_classes: tuple[Any, ...] = ()

    @method_decorator(guard)
    def get(self, request: Request, key: str) -> Response:
        if key not in NOTES:
            return Response(status=404)
        return Response(NOTES[key]["body"])

    @method_decorator(guard)
    def put(self, request: Request, key: str) -> Response:
        note = _save(key, request.data)
        return Response(note["body"], headers={"ETag": str(etag_for_version(note["version"]))})


class AtomicNoteAPIView(APIView):  # type: ignore[misc]
    """check_preconditions inside the write: DRF re-raises what its handler does not know,
    and ConditionalMiddleware.process_exception answers the 412/428."""

    authentication_classes: tuple[Any, ...] = ()
    permission_classes: tuple[Any, ...] = ()

    def put(self, request: Request, key: str) -> Response:
        check_preconditions(request.method, request.headers, current(request, key), require=True)
        note = _save(key, request.data)
        return Response(note["body"], headers={"ETag": str(etag_for_version(note["version"]))})


@method_decorator(csrf_exempt, name="dispatch")
class AsyncNoteView(View):  # type: ignore[misc]
    @method_decorator(guard)
    async def get(self, request: HttpRequest, key: str) -> HttpResponse:
        if key not in NOTES:
            return HttpResponse(status=404)
        return JsonResponse(NOTES[key]["body"])

    @method_decorator(guard)
    async def put(self, request: HttpRequest, key: str) -> HttpResponse:
        note = _save(key, json.loads(request.body))
        return JsonResponse(note["body"], headers={"ETag": str(etag_for_version(note["version"]))})


urlpatterns = [
    path("notes/<str:key>", NoteView.as_view()),
    path("api/notes/<str:key>", NoteAPIView.as_view()),
    path("async/notes/<str:key>", AsyncNoteView.as_view()),
    path("api/atomic/<str:key>", AtomicNoteAPIView.as_view()),
]
