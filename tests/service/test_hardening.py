"""Defects a new user and a hostile client found in the service (issue 13), one test each.

Each test is named after the behaviour that was wrong before its fix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ifmatch.service._http import MAX_JSON_DEPTH, MAX_JSON_DIGITS
from ifmatch.service._middleware import MAX_FIELD_BYTES, MAX_HEADER_BYTES
from ifmatch.service.cli import main, redact
from tests.support.servers import free_port

DOC = "/api/notes/first"
JSON = {"Content-Type": "application/json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
CREATE = {**JSON, "If-None-Match": "*"}


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["Content-Type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    return body


# -- 3. Bearer authentication ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_lower_case_bearer_scheme_was_refused(
    make_client: Callable[..., TestClient], scheme: str
) -> None:
    """RFC 9110 §11.1: the authentication scheme is case-insensitive."""
    client = make_client(token="s3cret")
    assert client.get(DOC, headers={"Authorization": f"{scheme} s3cret"}).status_code == 404
    _problem(client.get(DOC, headers={"Authorization": f"{scheme} wrong"}), 401)
    _problem(client.get(DOC, headers={"Authorization": "Basic s3cret"}), 401)


@pytest.mark.parametrize("order", ["right last", "right first", "both right"])
def test_repeated_authorization_field_was_accepted(
    make_client: Callable[..., TestClient], order: str
) -> None:
    """Authorization is a singleton: two fields are a 400 invalid_request (RFC 6750 §3.1)."""
    client = make_client(token="s3cret")
    right, wrong = (b"authorization", b"Bearer s3cret"), (b"authorization", b"Bearer nope")
    pairs = {"right last": [wrong, right], "right first": [right, wrong]}.get(order, [right, right])
    response = client.get(DOC, headers=pairs)
    body = _problem(response, 400)
    assert "once" in str(body["detail"])
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


# -- 4. the health check ----------------------------------------------------------------------


def test_healthz_needed_the_token(make_client: Callable[..., TestClient]) -> None:
    """Load-balancer probes cannot send credentials: /healthz is public, the rest is not."""
    client = make_client(token="s3cret")
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert client.head("/healthz").status_code == 200
    _problem(client.get("/openapi.json"), 401)
    _problem(client.get("/healthz/x"), 401)  # only the exact path is public


# -- 6. start-up errors -----------------------------------------------------------------------


@pytest.mark.parametrize("port", ["0", "65536", "99999", "-1", "http"])
def test_port_out_of_range_was_accepted(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main("serve", ["--port", port, "--db", "sqlite:///never-opened.db"])
    assert exited.value.code == 2
    assert "--port" in capsys.readouterr().err
    assert not Path("never-opened.db").exists()


def test_sqlite_in_a_missing_directory_was_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    assert main("serve", ["--db", f"sqlite:///{missing / 'x.db'}"]) == 1
    error = capsys.readouterr().err
    assert "does not exist" in error
    assert error.count("\n") == 1
    assert not (tmp_path / "nonexistent").exists()


def test_unreachable_postgresql_spewed_pool_errors(tmp_path: Path) -> None:
    """Nothing listens on the port: one line on stderr and exit 1, not 30 s of pool retries."""
    url = f"postgresql://root:hunter2@127.0.0.1:{free_port()}/test"
    done = subprocess.run(
        [sys.executable, "-m", "ifmatch.cli", "serve", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ifmatch serve: cannot open postgresql://root:***@127.0.0.1:")
    assert "hunter2" not in done.stderr


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact("sqlite:///a@b:c.db") == "sqlite:///a@b:c.db"


# -- 7. JSON Patch, file paths, caching of errors, header sizes --------------------------------


def test_json_patch_operation_with_op_twice_was_applied(client: TestClient) -> None:
    """RFC 6902 §4: an operation has exactly one "op"; raw JSON may repeat a member name."""
    etag = client.put(DOC, content=b'{"a": 1}', headers=CREATE).headers["ETag"]
    twice = b'[{"op": "remove", "op": "add", "path": "/b", "value": 2}]'
    response = client.patch(DOC, content=twice, headers={**JSON_PATCH, "If-Match": etag})
    assert "'op' appears twice" in str(_problem(response, 400)["detail"])
    assert client.get(DOC).json() == {"a": 1}


def test_duplicate_member_names_were_stored(client: TestClient) -> None:
    """RFC 8259 §4: with a name twice, readers disagree on the value; such a document is refused."""
    _problem(client.put(DOC, content=b'{"a": 1, "a": 2}', headers=CREATE), 400)
    assert client.get(DOC).status_code == 404


@pytest.mark.parametrize("spelling", ["/files//a/b.txt", "/files/a//b.txt", "/files/a/b.txt/"])
def test_location_named_a_path_that_was_not_stored(client: TestClient, spelling: str) -> None:
    created = client.put(spelling, content=b"data", headers={"If-None-Match": "*"})
    assert created.status_code == 201
    assert created.headers["Location"] == "/files/a/b.txt"
    assert client.get(created.headers["Location"]).content == b"data"


def test_location_of_a_file_escapes_what_needs_escaping(client: TestClient) -> None:
    created = client.put("/files/x%3Fy%20z", content=b"q", headers={"If-None-Match": "*"})
    assert created.headers["Location"] == "/files/x%3Fy%20z"
    assert client.get(created.headers["Location"]).content == b"q"


def test_problem_responses_had_no_cache_control(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    etag = client.put(DOC, json={"a": 1}, headers={"If-None-Match": "*"}).headers["ETag"]
    assert client.get(DOC).headers["Cache-Control"] == "no-cache"
    replies = {
        404: client.get("/api/notes/missing"),
        405: client.post(DOC),
        400: client.put("/api/notes/bad", content=b"{", headers=CREATE),
        412: client.put(DOC, json={}, headers={"If-Match": '"nope"'}),
        428: client.put(DOC, json={}),
        415: client.put(DOC, content=b"x", headers={"Content-Type": "text/plain"}),
    }
    client.put("/files/f", content=b"abc", headers={"If-None-Match": "*"})
    replies[416] = client.get("/files/f", headers={"Range": "bytes=9-"})
    replies[401] = make_client(token="t").get(DOC)
    for status, response in replies.items():
        assert response.status_code == status, (status, response.text)
        assert response.headers["Cache-Control"] == "no-store", status
    assert client.get(DOC, headers={"If-None-Match": etag}).headers["Cache-Control"] == "no-cache"


def test_two_megabyte_header_field_was_accepted(client: TestClient) -> None:
    """RFC 6585 §5: 431 past 8 KiB for one field line, and past 64 KiB for all of them."""
    huge = '"' + "a" * 2_000_000 + '"'
    body = _problem(client.get(DOC, headers={"If-None-Match": huge}), 431)
    assert "If-None-Match".lower() in str(body["detail"]).lower()
    just_fits = "a" * (MAX_FIELD_BYTES - len("x-pad") - 2)
    assert client.get(DOC, headers={"X-Pad": just_fits}).status_code == 404
    assert client.get(DOC, headers={"X-Pad": just_fits + "a"}).status_code == 431
    many = {f"X-Pad-{n}": "b" * 4000 for n in range(MAX_HEADER_BYTES // 4000 + 1)}
    _problem(client.get(DOC, headers=many), 431)
    # Refused before anything else: no write happens behind an oversized field.
    put = client.put(DOC, json={}, headers={**CREATE, "X-Pad": just_fits + "a"})
    _problem(put, 431)
    assert client.get(DOC).status_code == 404


# -- 5. error texts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1" * 5_000, f"integers are limited to {MAX_JSON_DIGITS} digits"),
        (b"[" * 2_000 + b"]" * 2_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (b'{"a":' * 1_000 + b"1" + b"}" * 1_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (b'"a\x01b"', "Invalid control character (line 1, column 3)"),
        (b'{"a": }', "Expecting value (line 1, column 7)"),
        (b'"abc', "Unterminated string (line 1, column 1)"),
        (b"[1e999]", "the number 1e999 is out of range"),
        (b"[NaN]", "NaN is not JSON"),
    ],
)
def test_json_errors_leaked_parser_internals(
    client: TestClient, body: bytes, expected: str
) -> None:
    detail = str(_problem(client.put(DOC, content=body, headers=CREATE), 400)["detail"])
    assert expected in detail
    for internal in ("sys.", "set_int_max_str_digits", "recursion", "at at", "Exceeds"):
        assert internal not in detail


def test_nesting_limit_was_the_recursion_limit(client: TestClient) -> None:
    """The limit is MAX_JSON_DEPTH levels, documented, not whatever the interpreter allows."""
    deepest = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert client.put(DOC, content=deepest, headers=CREATE).status_code == 201
    deeper = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    _problem(client.put("/api/notes/other", content=deeper, headers=CREATE), 400)
    etag = client.get(DOC).headers["ETag"]
    innermost = "/0" * (MAX_JSON_DEPTH - 1)
    nest = b'[{"op": "add", "path": "%s/-", "value": []}]' % innermost.encode()
    response = client.patch(DOC, content=nest, headers={**JSON_PATCH, "If-Match": etag})
    assert f"nest deeper than {MAX_JSON_DEPTH}" in str(_problem(response, 422)["detail"])
    assert client.get(DOC).content == deepest
    longest = b"9" * MAX_JSON_DIGITS
    assert client.put("/api/notes/n", content=longest, headers=CREATE).status_code == 201


# -- 2. POST evaluates its preconditions against the collection ------------------------------


def test_post_evaluated_preconditions_against_the_new_member(client: TestClient) -> None:
    """RFC 9110 §13.1.1, §13.1.2: the target of a POST is the collection."""
    first = client.post("/api/notes", json={"n": 1})
    assert first.status_code == 201
    tag = client.get("/api/notes").headers["ETag"]
    appended = client.post("/api/notes", json={"n": 2}, headers={"If-Match": tag})
    assert appended.status_code == 201, appended.text  # append only if unchanged: it was
    stale = client.post("/api/notes", json={"n": 3}, headers={"If-Match": tag})
    body = _problem(stale, 412)
    current = client.get("/api/notes").headers["ETag"]
    assert current != tag
    assert (stale.headers["ETag"], body["current_etag"]) == (current, current)
    assert stale.headers["Cache-Control"] == "no-store"
    assert client.post("/api/notes", json={}, headers={"If-Match": "*"}).status_code == 201
    taken = client.post("/api/notes", json={}, headers={"If-None-Match": "*"})
    assert _problem(taken, 412)["detail"] == "If-None-Match failed: the resource exists"
    assert len(client.get("/api/notes").json()["items"]) == 3


def test_post_to_an_empty_collection_with_its_etag(client: TestClient) -> None:
    """A collection never written has a representation (200, ETag "c0") and can be guarded."""
    empty = client.get("/api/fresh")
    assert empty.status_code == 200
    guarded = client.post("/api/fresh", json={}, headers={"If-Match": empty.headers["ETag"]})
    assert guarded.status_code == 201
    unmodified = client.post(
        "/api/fresh", json={}, headers={"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}
    )
    assert _problem(unmodified, 412)["precondition"] == "If-Unmodified-Since"


def test_collection_412_carried_no_etag(client: TestClient) -> None:
    response = client.get("/api/notes", headers={"If-Match": '"nope"'})
    _problem(response, 412)
    assert response.headers["ETag"] == client.get("/api/notes").headers["ETag"]


# -- 5. precondition error texts ----------------------------------------------------------------


def test_unreadable_if_unmodified_since_said_the_resource_changed(client: TestClient) -> None:
    client.put(DOC, json={"a": 1}, headers={"If-None-Match": "*"})
    response = client.put(DOC, json={}, headers={"If-Unmodified-Since": "yesterday"})
    detail = str(_problem(response, 412)["detail"])
    assert detail == (
        "If-Unmodified-Since failed: the date could not be read, so the request is not performed"
    )
    old = client.put(DOC, json={}, headers={"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert "changed after the given date" in str(_problem(old, 412)["detail"])


def test_if_match_star_on_a_missing_resource_said_the_tag_did_not_match(
    client: TestClient,
) -> None:
    response = client.put("/api/notes/missing", json={}, headers={"If-Match": "*"})
    assert _problem(response, 412)["detail"] == "If-Match failed: the resource does not exist"
    tagged = client.put("/files/missing", content=b"x", headers={"If-Match": '"v1"'})
    assert _problem(tagged, 412)["detail"] == "If-Match failed: the resource does not exist"
    client.put(DOC, json={"a": 1}, headers={"If-None-Match": "*"})
    stale = client.put(DOC, json={}, headers={"If-Match": '"v9"'})
    assert "does not match the current representation" in str(_problem(stale, 412)["detail"])
    garbled = client.put(DOC, json={}, headers={"If-Match": '"v1'})
    assert "could not be read" in str(_problem(garbled, 412)["detail"])


# -- 10. collections say they have no ranges -------------------------------------------------------


def test_collections_did_not_send_accept_ranges_none(client: TestClient) -> None:
    """RFC 9110 §14.3: say "none" rather than leave clients to try Range, as documents do."""
    assert client.get("/api/notes").headers["Accept-Ranges"] == "none"
    assert client.head("/api/notes").headers["Accept-Ranges"] == "none"


# -- a transfer coding the service cannot undo ---------------------------------------------------


def test_gzip_transfer_coding_stored_the_coded_bytes(client: TestClient) -> None:
    """RFC 9112 §6.1: content de-chunked but still gzip-coded must not be stored as the file."""
    response = client.put(
        "/files/t.bin",
        content=b"\x1f\x8b",
        headers={"If-None-Match": "*", "Transfer-Encoding": "gzip, chunked"},
    )
    assert "chunked" in str(_problem(response, 400)["detail"])
    assert client.get("/files/t.bin").status_code == 404


def test_patch_to_a_scalar_is_not_a_nesting_error(client: TestClient) -> None:
    etag = client.put(DOC, json={"a": [1]}, headers={"If-None-Match": "*"}).headers["ETag"]
    scalar = b'[{"op": "replace", "path": "", "value": null}]'
    response = client.patch(DOC, content=scalar, headers={**JSON_PATCH, "If-Match": etag})
    assert (response.status_code, response.content) == (200, b"null")
