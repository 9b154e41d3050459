"""ifmatch.django_models: validators from a model's version field or ``updated_at``, and the
guarded, locked write (412/428 through the middleware), on SQLite with BEGIN IMMEDIATE."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from ifmatch import ETag, Resource, format_http_date
from ifmatch.django_models import guarded_write, model_resource
from ifmatch.guard import PreconditionFailed

from .djmodels.models import Note, Page


@csrf_exempt
def note_view(request: HttpRequest, key: str) -> HttpResponse:
    if request.method == "PUT":
        with guarded_write(Note.objects.filter(pk=key), request) as write:
            if write.instance is None:
                write.instance = Note(key=key, version=1)
            write.instance.body = request.body.decode()
        status = 200 if write.before.exists else 201
        return HttpResponse(status=status, headers={"ETag": str(write.resource.etag)})
    note = Note.objects.filter(pk=key).first()
    if note is None:
        return HttpResponse(status=404)
    return JsonResponse({"body": note.body}, headers={"ETag": str(model_resource(note).etag)})


@csrf_exempt
def page_view(request: HttpRequest, key: str) -> HttpResponse:
    options: dict[str, Any] = {"version_field": None, "modified_field": "updated_at"}
    with guarded_write(Page.objects.filter(pk=key), request, **options) as write:
        assert write.instance is not None
        write.instance.body = request.body.decode()
    return HttpResponse(headers={"ETag": str(write.resource.etag)})


urlpatterns = [path("notes/<str:key>", note_view), path("pages/<str:key>", page_view)]


@pytest.fixture(scope="module", autouse=True)
def tables() -> Iterator[None]:
    with connection.schema_editor() as editor:
        editor.create_model(Note)
        editor.create_model(Page)
    yield
    with connection.schema_editor() as editor:
        editor.delete_model(Note)
        editor.delete_model(Page)


@pytest.fixture
def client() -> Iterator[Client]:
    Note.objects.all().delete()
    Page.objects.all().delete()
    Note.objects.create(key="a", body="first", version=1)
    with override_settings(ROOT_URLCONF=__name__):
        yield Client()


def test_model_resource_from_a_version_or_a_timestamp() -> None:
    assert model_resource(Note(key="x", body="", version=7)).etag == ETag("v7")
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    page = model_resource(
        Page(key="p", body="", updated_at=moment), version_field=None, modified_field="updated_at"
    )
    assert page.etag == ETag(f"t{int(moment.timestamp()) * 1_000_000 + 123456}")
    assert page.last_modified == moment
    later = model_resource(
        Page(key="p", body="", updated_at=moment + timedelta(microseconds=1)),
        version_field=None,
        modified_field="updated_at",
    )
    assert later.etag != page.etag  # two writes within one second still differ
    assert model_resource(None) == Resource.missing()
    with pytest.raises(ValueError, match="version_field or a modified_field"):
        model_resource(Page(key="p", body="", updated_at=moment), version_field=None)


def test_guarded_write_answers_428_412_and_writes_once(client: Client) -> None:
    assert client.get("/notes/a").headers["ETag"] == '"v1"'
    required = client.put("/notes/a", "second", content_type="text/plain")
    assert required.status_code == 428
    written = client.put(
        "/notes/a", "second", content_type="text/plain", headers={"If-Match": '"v1"'}
    )
    assert written.status_code == 200
    assert written.headers["ETag"] == '"v2"'
    stale = client.put("/notes/a", "third", content_type="text/plain", headers={"If-Match": '"v1"'})
    assert stale.status_code == 412
    assert json.loads(stale.content)["current_etag"] == '"v2"'
    note = Note.objects.get(pk="a")
    assert (note.body, note.version) == ("second", 2)


def test_create_only_with_if_none_match_star(client: Client) -> None:
    created = client.put(
        "/notes/new", "hello", content_type="text/plain", headers={"If-None-Match": "*"}
    )
    assert created.status_code == 201
    assert created.headers["ETag"] == '"v1"'
    again = client.put(
        "/notes/new", "other", content_type="text/plain", headers={"If-None-Match": "*"}
    )
    assert again.status_code == 412
    assert Note.objects.get(pk="new").body == "hello"


def test_updated_at_validators(client: Client) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    Page.objects.create(key="p", body="one", updated_at=old)
    stale = client.put(
        "/pages/p",
        "two",
        content_type="text/plain",
        headers={"If-Unmodified-Since": format_http_date(old - timedelta(days=1))},
    )
    assert stale.status_code == 412
    fresh = client.put(
        "/pages/p",
        "two",
        content_type="text/plain",
        headers={"If-Unmodified-Since": format_http_date(old)},
    )
    assert fresh.status_code == 200
    page = Page.objects.get(pk="p")
    assert page.updated_at > old
    assert fresh.headers["ETag"] == str(
        model_resource(page, version_field=None, modified_field="updated_at").etag
    )


def test_an_exception_in_the_block_writes_nothing(client: Client) -> None:
    request = RequestFactory().put("/notes/a", headers={"If-Match": '"v1"'})

    def failing_handler() -> None:
        with guarded_write(Note.objects.filter(pk="a"), request) as write:
            assert write.instance is not None
            write.instance.body = "half"
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        failing_handler()
    assert Note.objects.get(pk="a").version == 1


def test_two_writers_with_the_same_if_match_one_wins(client: Client) -> None:
    """The lost update (RFC 9110 §13.1.1): the second writer waits for the first's lock,
    then sees its version and gets a 412; it never overwrites."""
    inside = threading.Event()
    results: dict[str, str] = {}

    def writer(name: str, hold: bool) -> None:
        request = RequestFactory().put("/notes/a", headers={"If-Match": '"v1"'})
        try:
            with guarded_write(Note.objects.filter(pk="a"), request) as write:
                assert write.instance is not None
                write.instance.body = name
                if hold:
                    inside.set()
                    threading.Event().wait(0.3)  # the other writer arrives meanwhile
            results[name] = "written"
        except PreconditionFailed:
            results[name] = "412"
        finally:
            connection.close()

    first = threading.Thread(target=writer, args=("first", True))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=writer, args=("second", False))
    second.start()
    first.join(20)
    second.join(20)
    assert results == {"first": "written", "second": "412"}
    note = Note.objects.get(pk="a")
    assert (note.body, note.version) == ("first", 2)
