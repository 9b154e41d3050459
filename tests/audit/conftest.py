"""The real-server peers start once per session and serve both test_peers and test_redbot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.audit.peers import peer_urls


@pytest.fixture(scope="session")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Column name (as in docs/audit.md) -> URL on a running peer server."""
    with peer_urls(tmp_path_factory.mktemp("peers")) as urls:
        yield urls
