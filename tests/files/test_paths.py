"""A root no path can escape: traversal, absolute paths, NUL, backslashes, symlinks.

Every refusal is a 404 that says nothing about what exists; a hypothesis
property checks that no string whatever resolves outside the root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch import asgi_files, files, wsgi_files
from ifmatch.files import OpenedFile, open_file, resolve_under, safe_parts
from ifmatch.ranges import ByteRange
from tests.files.conftest import FILES, SECRET, Call, Site
from tests.support.wsgi import recorder

# fmt: off
ESCAPES = [
    pytest.param("/%2e%2e/outside/secret.txt", id="percent-encoded .. arrives decoded"),
    pytest.param("/sub/%2e%2e/%2e%2e/outside/secret.txt", id=".. after a real directory"),
    pytest.param("/..%2foutside%2fsecret.txt", id="encoded slash: ../outside/secret.txt"),
    pytest.param("/%2E%2E/outside/secret.txt", id="upper-case percent-encoding"),
    pytest.param("/%2e%2e%5coutside%5csecret.txt", id="backslash separators"),
    pytest.param("/sub%5c..%5chello.txt", id="backslash inside the root too"),
    pytest.param("/link_out.txt", id="symlink to a file outside"),
    pytest.param("/link_rel_out.txt", id="relative symlink to a file outside"),
    pytest.param("/link_dir_out/secret.txt", id="symlinked directory outside"),
    pytest.param("/hello.txt%00", id="NUL after a name"),
    pytest.param("/%00/etc/passwd", id="NUL segment"),
    pytest.param("/C:%5cWindows%5cwin.ini", id="Windows drive"),
    pytest.param("/%2e/hello.txt", id="dot segment"),
    pytest.param("/.hidden", id="hidden file"),
    pytest.param("/hello.txt/", id="trailing slash on a file"),
    pytest.param("/sub", id="directory"),
    pytest.param("/fifo", id="FIFO"),
]
# fmt: on


@pytest.mark.parametrize("path", ESCAPES)
def test_escapes_are_404_and_say_nothing(static: Call, site: Site, path: str) -> None:
    answer = static("GET", path)
    assert answer.status == 404
    assert SECRET not in answer.body
    assert answer.body == static("GET", "/does-not-exist").body, "the same 404 for every refusal"


def test_absolute_path_after_the_mount(static: Call, site: Site) -> None:
    """``//abs/path`` must not be joined as an absolute path (os.path.join would)."""
    secret = site.outside / "secret.txt"
    assert static("GET", "/" + str(secret)).status == 404


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("/a/b.txt", ("a", "b.txt")),
        ("a//b", ("a", "b")),
        ("/", ()),
        ("/%2e%2e", ("%2e%2e",)),
        ("/../a", None),
        ("/a/..", None),
        ("/./a", None),
        ("//etc/passwd", None),
        ("/a\\b", None),
        ("/a\x00", None),
        ("/C:/x", None),
        ("/.git/config", None),
    ],
)
def test_safe_parts(path: str, parts: tuple[str, ...] | None) -> None:
    assert safe_parts(path) == parts


def test_hidden_files_can_be_allowed(site: Site) -> None:
    assert safe_parts("/.well-known/x", serve_hidden=True) == (".well-known", "x")
    assert safe_parts("/../x", serve_hidden=True) is None
    opened = open_file("/.hidden", root=site.root, serve_hidden=True)
    assert opened is not None
    opened.close()


def _swap_after_resolving(monkeypatch: pytest.MonkeyPatch, swap: Callable[[Path], None]) -> None:
    """Make the check pass on the real path, then swap something in before the open."""
    real_resolve = files._resolve

    def resolve_then_swap(root: Path, path: str, serve_hidden: bool) -> tuple[str, str] | None:
        found = real_resolve(root, path, serve_hidden)
        assert found is not None
        swap(Path(found[1]))
        return found

    monkeypatch.setattr(files, "_resolve", resolve_then_swap)


def test_file_swapped_for_a_symlink_after_the_check(
    fresh_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NOFOLLOW: a symlink put where the checked file was is refused (TOCTOU race)."""

    def swap(resolved: Path) -> None:
        resolved.unlink()
        resolved.symlink_to(fresh_site.outside / "secret.txt")

    _swap_after_resolving(monkeypatch, swap)
    assert open_file("/hello.txt", root=fresh_site.root) is None


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_directory_swapped_for_a_symlink_after_the_check(
    fresh_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open descriptor's own path is checked, so a swapped parent directory is refused."""
    (fresh_site.outside / "nested.json").write_bytes(SECRET)

    def swap(resolved: Path) -> None:
        directory = resolved.parent
        directory.rename(directory.with_name("moved"))
        directory.symlink_to(fresh_site.outside, target_is_directory=True)

    _swap_after_resolving(monkeypatch, swap)
    assert open_file("/sub/nested.json", root=fresh_site.root) is None


def read_all(opened: OpenedFile) -> bytes:
    return opened.read(ByteRange(0, opened.size))


SEGMENTS = st.sampled_from(
    ["..", ".", "", "outside", "secret.txt", "link_out.txt", "link_dir_out", "link_rel_out.txt",
     "sub", "hello.txt", "%2e%2e", "\\..", "..\\", "C:", "\x00", "~", ".hidden", "fifo", "/"]
)  # fmt: skip
# Names that pass the lexical checks, so resolution (symlinks in and out) is what is tested.
PLAUSIBLE = st.sampled_from(
    ["sub", "nested.json", "hello.txt", "link_in.txt", "link_out.txt", "link_dir_out",
     "secret.txt", "link_rel_out.txt", "outside", "%2e%2e", "big.bin", "caf\u00e9 menu.txt", ""]
)  # fmt: skip
PATHS = st.one_of(
    st.lists(PLAUSIBLE, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
    st.lists(st.one_of(SEGMENTS, st.text(max_size=4)), max_size=8).map("/".join),
    st.lists(st.one_of(SEGMENTS, st.text(max_size=4)), max_size=8).map(lambda p: "/" + "/".join(p)),
    st.text(max_size=40),
)


@given(path=PATHS)
def test_no_string_resolves_outside_the_root(site: Site, path: str) -> None:
    real_root = site.root.resolve()
    resolved = resolve_under(site.root, path)
    if resolved is not None:
        assert resolved.is_relative_to(real_root)
    opened = open_file(path, root=site.root)
    if opened is not None:
        try:
            assert opened.path.is_relative_to(real_root)
            assert read_all(opened) != SECRET
        finally:
            opened.close()


@given(path=PATHS)
def test_no_request_reads_outside_the_root(site: Site, path: str) -> None:
    """The same property through both apps, with the path exactly as a server decodes it."""
    served = {content for name, content in FILES.items() if not name.startswith(".")}
    for status, body in (_asgi_get(site.root, path), _wsgi_get(site.root, path)):
        assert status in {200, 404}
        assert SECRET not in body
        if status == 200:
            assert body in served, "a 200 carries exactly one file of the root"


def _asgi_get(root: Path, path: str) -> tuple[int, bytes]:
    app = asgi_files.StaticFiles(root)
    sent: list[dict[str, object]] = []

    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, object]:
        for message in requests:
            return message
        await asyncio.sleep(3600)  # as a server does: block until the client goes away
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent)  # type: ignore[misc]
    return int(sent[0]["status"]), body  # type: ignore[call-overload]


def _wsgi_get(root: Path, path: str) -> tuple[int, bytes]:
    app = wsgi_files.StaticFiles(root)
    statuses: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path.encode("utf-8", "surrogatepass")
               .decode("latin-1")}  # fmt: skip
    iterable = app(environ, recorder(lambda status, headers: statuses.append(status)))
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()  # type: ignore[attr-defined]
    return int(statuses[0].split()[0]), body
