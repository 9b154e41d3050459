"""Validators of a file: a strong ETag from (size, mtime_ns), Last-Modified, dates (§8.8).

The ETag must be the same on two servers holding the same file with the
same mtime (no inode, no path in it), and must change with any change of
size or mtime, down to the nanosecond.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ifmatch import ETag, asgi_files, wsgi_files
from ifmatch.files import file_reply, open_file
from tests.files.conftest import MTIME_NS, Site, asgi_caller, wsgi_caller


def etag_of(path: Path, **options: int) -> ETag:
    opened = open_file(path, **options)  # type: ignore[arg-type]
    assert opened is not None
    opened.close()
    return opened.etag


def test_etag_is_strong_and_128_bits(site: Site) -> None:
    etag = etag_of(site.root / "hello.txt")
    assert not etag.weak
    assert len(etag.opaque) == 32
    int(etag.opaque, 16)


def test_same_file_same_mtime_same_etag_anywhere(site: Site, tmp_path: Path) -> None:
    """Another path, another inode, another directory: the same tag (two servers agree)."""
    copy = tmp_path / "elsewhere" / "renamed.bin"
    copy.parent.mkdir()
    shutil.copyfile(site.root / "hello.txt", copy)
    os.utime(copy, ns=(MTIME_NS, MTIME_NS))
    assert os.stat(copy).st_ino != os.stat(site.root / "hello.txt").st_ino
    assert etag_of(copy) == etag_of(site.root / "hello.txt")


def test_two_servers_behind_a_balancer_agree(site: Site, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(site.root, mirror, symlinks=True, ignore=shutil.ignore_patterns("fifo"))
    os.utime(mirror / "big.bin", ns=(MTIME_NS, MTIME_NS))
    first = asgi_caller(asgi_files.StaticFiles(site.root))
    second = wsgi_caller(wsgi_files.StaticFiles(mirror))
    etag = first("GET", "/big.bin").headers["etag"]
    assert second("GET", "/big.bin").headers["etag"] == etag
    resumed = second("GET", "/big.bin", {"Range": "bytes=5-9", "If-Range": etag})
    assert resumed.status == 206


def test_etag_changes_with_a_nanosecond_of_mtime(fresh_site: Site) -> None:
    path = fresh_site.root / "hello.txt"
    before = etag_of(path)
    os.utime(path, ns=(MTIME_NS, MTIME_NS + 1))
    assert etag_of(path) != before


def test_etag_changes_with_size(fresh_site: Site) -> None:
    path = fresh_site.root / "hello.txt"
    before = etag_of(path)
    path.write_bytes(path.read_bytes() + b"!")
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    assert etag_of(path) != before


def test_content_etag_for_small_files_ignores_mtime(fresh_site: Site, tmp_path: Path) -> None:
    """Optional: small files tagged by content agree even when deployments set other mtimes."""
    copy = tmp_path / "copy.txt"
    shutil.copyfile(fresh_site.root / "hello.txt", copy)
    os.utime(copy, ns=(MTIME_NS + 10**9, MTIME_NS + 10**9))
    by_content = etag_of(copy, content_etag_limit=1024)
    assert by_content == etag_of(fresh_site.root / "hello.txt", content_etag_limit=1024)
    assert not by_content.weak
    assert by_content != etag_of(copy)
    # Above the limit, the (size, mtime) tag is used.
    assert etag_of(copy, content_etag_limit=4) == etag_of(copy)


def test_last_modified_keeps_sub_second_precision(site: Site) -> None:
    opened = open_file(site.root / "hello.txt")
    assert opened is not None
    opened.close()
    assert opened.modified == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)


def test_future_mtime_is_not_sent_as_last_modified(fresh_site: Site) -> None:
    """§8.8.2.1: a Last-Modified later than the response's date is replaced by that date."""
    path = fresh_site.root / "hello.txt"
    future = datetime(2099, 1, 1, tzinfo=UTC)
    os.utime(path, (future.timestamp(), future.timestamp()))
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    reply = file_reply("GET", {}, open_file(path), now=now)
    reply.close()
    assert dict(reply.headers)["Last-Modified"] == "Mon, 06 May 2030 07:08:09 GMT"


@pytest.mark.parametrize(
    ("age", "status"),
    [
        pytest.param(timedelta(milliseconds=500), 200, id="§13.1.5 modified <1 s ago: date weak"),
        pytest.param(timedelta(seconds=2), 206, id="§13.1.5 modified >=1 s ago: date strong"),
    ],
)
def test_if_range_date_of_a_just_modified_file(
    fresh_site: Site, age: timedelta, status: int
) -> None:
    """The one-second rule (§8.8.2.2): files say nothing of changes within a second."""
    path = fresh_site.root / "big.bin"
    opened = open_file(path)
    assert opened is not None
    last_modified = dict(file_reply("GET", {}, opened).headers)["Last-Modified"]
    request = {"Range": "bytes=0-9", "If-Range": last_modified}
    reply = file_reply("GET", request, opened, now=opened.modified + age)
    reply.close()
    assert reply.status == status
    by_etag = {"Range": "bytes=0-9", "If-Range": str(opened.etag)}
    reopened = open_file(path)
    assert file_reply("GET", by_etag, reopened, now=opened.modified + age).status == 206
    assert reopened is not None
    reopened.close()


def test_content_type_from_the_requested_name(fresh_site: Site) -> None:
    """A symlink inside the root is typed by the name asked for, as nginx does."""
    (fresh_site.root / "alias.html").symlink_to(fresh_site.root / "hello.txt")
    call = wsgi_caller(wsgi_files.StaticFiles(fresh_site.root))
    assert call("GET", "/alias.html").headers["content-type"] == "text/html; charset=utf-8"
    assert call("GET", "/hello.txt").headers["content-type"] == "text/plain; charset=utf-8"
