"""The errors ifmatch's client raises on its own account, in one place.

::

    Exception
     └── ClientError                     the client refused, or gave up, for a reason it states
          ├── ConflictError              a write kept failing its precondition (412) after its
          │    │                         retries (update, delete); .current, .attempted, .attempts
          │    └── AlreadyExistsError    create: If-None-Match: * failed, something is there
          ├── PreconditionRequiredError  428: the server accepts the write only with If-Match
          ├── MissingValidatorError      no strong validator to make a write conditional with
          ├── InvalidBodyError           a body the flow must read is not JSON
          └── DownloadError              a download cannot complete; its .part is kept

Everything else comes from the HTTP library the caller's client belongs to,
unchanged: an error status the flow does not handle raises that library's
``HTTPStatusError`` (httpx's or httpx2's, e.g. for a 404), a network failure
its ``TransportError``.  So ``except ClientError`` catches exactly the
outcomes that conditional requests add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Version:
    """A representation as the server returned it: decoded JSON and its validators."""

    document: Any
    etag: str | None
    last_modified: str | None


class ClientError(Exception):
    """Base of the errors ifmatch's client raises on its own account."""


class ConflictError(ClientError):
    """The write kept failing its precondition (412) after all retries.

    ``current`` is the server's version at the end (``None`` if it could not
    be read, e.g. deleted), ``attempted`` the document this client last tried
    to write, ``attempts`` how many writes were tried.
    """

    def __init__(
        self, url: str, current: Version | None, attempted: Any, attempts: int, message: str = ""
    ) -> None:
        self.url, self.current, self.attempted, self.attempts = url, current, attempted, attempts
        etag = current.etag if current else None
        super().__init__(
            message
            or f"{url}: still changed by others after {attempts} attempt(s) "
            f"(412 Precondition Failed); server now at ETag {etag}"
        )


class AlreadyExistsError(ConflictError):
    """``create`` found a representation already there (``If-None-Match: *`` failed)."""


class PreconditionRequiredError(ClientError):
    """The server answered 428: it accepts this write only with If-Match (RFC 6585 §3)."""

    def __init__(self, url: str, method: str, detail: str = "") -> None:
        self.url, self.method = url, method
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"{method} {url}: the server requires a precondition (428 Precondition Required); "
            f"send If-Match with the ETag you read{extra}"
        )


class MissingValidatorError(ClientError):
    """The server gave no usable validator, so no write can be made safely conditional."""


class InvalidBodyError(ClientError):
    """A body the flow has to read (the JSON to change) could not be decoded."""


class DownloadError(ClientError):
    """The download could not be completed; the part file (if any) is kept for a resume."""
