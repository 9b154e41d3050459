"""Django specifics the conformance table cannot show: streaming, cookies, HEAD, extra headers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import RequestFactory, override_settings

from ifmatch import Resource, etag_for_version
from ifmatch.django import ConditionalMiddleware, preconditions, response_fields

factory = RequestFactory()


def test_streaming_response_with_etag_gets_its_304_unread() -> None:
    pulled: list[int] = []

    def chunks() -> object:
        for n in range(3):
            pulled.append(n)
            yield b"x" * 10

    def view(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(chunks(), headers={"ETag": '"s1"'})

    middleware = ConditionalMiddleware(view)
    answer = middleware(factory.get("/", headers={"If-None-Match": '"s1"'}))
    assert answer.status_code == 304
    assert answer["ETag"] == '"s1"'
    assert pulled == []


def test_streaming_response_without_etag_is_never_buffered() -> None:
    def view(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(iter([b"a", b"b"]))

    answer = ConditionalMiddleware(view)(factory.get("/"))
    assert answer.status_code == 200
    assert not answer.has_header("ETag")
    assert b"".join(answer.streaming_content) == b"ab"


def test_304_keeps_cookies_and_cache_control() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(b"hello", headers={"Cache-Control": "max-age=5"})
        response.set_cookie("session", "abc")
        return response

    middleware = ConditionalMiddleware(view)
    etag = middleware(factory.get("/"))["ETag"]
    answer = middleware(factory.get("/", headers={"If-None-Match": etag}))
    assert answer.status_code == 304
    assert answer.cookies["session"].value == "abc"
    assert answer["Cache-Control"] == "max-age=5"
    assert not answer.has_header("Content-Type")


def test_head_with_an_empty_body_is_not_given_an_invented_etag() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"" if request.method == "HEAD" else b"hello")

    middleware = ConditionalMiddleware(view)
    assert not middleware(factory.head("/")).has_header("ETag")
    assert middleware(factory.get("/")).has_header("ETag")


def test_decorator_extra_headers_go_on_the_304_and_view_args_reach_validators() -> None:
    seen: list[object] = []

    def current(request: HttpRequest, key: str) -> Resource:
        seen.append(key)
        return Resource(etag_for_version(3))

    @preconditions(current, extra_headers=[("Cache-Control", "max-age=60")])
    def view(request: HttpRequest, key: str) -> HttpResponse:
        raise AssertionError("a matching If-None-Match must not reach the view")

    answer = view(factory.get("/", headers={"If-None-Match": '"v3"'}), key="k1")
    assert answer.status_code == 304
    assert (answer["ETag"], answer["Cache-Control"]) == ('"v3"', "max-age=60")
    assert seen == ["k1"]


def test_body_past_max_buffer_is_not_hashed_as_for_asgi_and_wsgi() -> None:
    """``max_buffer`` bounds what is hashed: a longer body goes out untagged, unless the view
    gave its own ETag, which is still decided."""

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"x" * 17)

    def tagged_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"x" * 17, headers={"ETag": '"v1"'})

    with override_settings(IFMATCH={"max_buffer": 16}):
        answer = ConditionalMiddleware(view)(factory.get("/"))
        assert (answer.status_code, answer.has_header("ETag")) == (200, False)
        revalidated = ConditionalMiddleware(tagged_view)(
            factory.get("/", headers={"If-None-Match": '"v1"'})
        )
        assert revalidated.status_code == 304
    with override_settings(IFMATCH={"max_buffer": 17}):
        assert ConditionalMiddleware(view)(factory.get("/")).has_header("ETag")


def test_response_fields_are_the_public_items() -> None:
    """The fast read of the header store gives exactly what ``response.items()`` gives."""
    response = HttpResponse(b"x", headers={"ETag": '"v1"', "X-Id": "7"})
    response["Cache-Control"] = "no-cache"
    response.set_cookie("a", "b")  # cookies live apart from the header fields
    assert response_fields(response) == list(response.items())
    assert [name for name, _ in response_fields(response)] == [
        "ETag",
        "X-Id",
        "Content-Type",
        "Cache-Control",
    ]


def test_the_read_context_from_meta_is_the_policys_context_over_the_headers() -> None:
    """process_read picks the precondition fields from META by name; the general
    TaggingPolicy.context over the same request's headers must read the same."""
    from ifmatch.django import _context, _request_headers
    from ifmatch.tagging import TaggingPolicy

    requests = [
        {"If-None-Match": 'W/"a"', "If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"},
        {"If-Match": '"x"', "If-Unmodified-Since": "junk", "Accept-Encoding": "gzip"},
        {"If-None-Match": '"a", "b"', "Accept-Encoding": "identity, gzip;q=0"},
        {"If-Range": '"r"', "Range": "bytes=0-1", "Accept-Encoding": "br"},
    ]
    for coding_outside in (False, True):
        policy = TaggingPolicy.build(coding_outside=coding_outside)
        for headers in requests:
            for method in ("GET", "head"):
                request = factory.generic(method, "/", headers=headers)
                for hashable in (True, False):
                    ours = _context(policy, method, request.META, hashable)
                    general = policy.context(method, _request_headers(request), hashable=hashable)
                    assert ours == general, (coding_outside, headers, method, hashable)
