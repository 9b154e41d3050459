"""The one seam between ifmatch and its HTTP library: httpx or httpx2, resolved per object.

Public, because the client and the auditor both stand on it, and code that
extends them (a transport of your own that must work under both libraries)
can too.

ifmatch's client runs on `httpx <https://www.python-httpx.org/>`_ (0.x) and on
its successor ``httpx2``.  The two have the same API but distinct classes: an
``httpx2.Client`` asserts that its transport returns an ``httpx2.Response``
whose stream is an ``httpx2.SyncByteStream``, and ``except httpx.TransportError``
does not catch ``httpx2.ReadError``.  So nothing in the client names one of
them at run time; it asks this module instead:

* :func:`library_of` gives the module an object (a client, request, response,
  transport) belongs to, so a transport builds its responses with the classes
  of the request it was handed;
* :func:`errors` gives an exception class from every library loaded so far,
  for ``except`` clauses (a library that was never imported raised nothing);
* :func:`derive` makes a stream class that is a subclass of one library's base;
* :func:`default_library` picks one for code that creates its own client (the
  command line): ``$IFMATCH_HTTP`` if set, else httpx, else httpx2.

The type aliases (:data:`Client`, :data:`Response`, ...) are unions of both
libraries' classes, for annotations only.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import httpx
    import httpx2

    Client: TypeAlias = httpx.Client | httpx2.Client
    AsyncClient: TypeAlias = httpx.AsyncClient | httpx2.AsyncClient
    Request: TypeAlias = httpx.Request | httpx2.Request
    Response: TypeAlias = httpx.Response | httpx2.Response
    Headers: TypeAlias = httpx.Headers | httpx2.Headers

#: The supported libraries, in order of preference for :func:`default_library`.
LIBRARIES = ("httpx", "httpx2")
#: Environment variable naming the library the command line uses.
ENVIRONMENT = "IFMATCH_HTTP"


def library_of(thing: object) -> ModuleType:
    """The module (``httpx`` or ``httpx2``) whose class ``thing`` is an instance of.

    Subclasses count (a user's ``httpx.Client`` subclass belongs to httpx):
    the first class in the method resolution order that one of the libraries
    defines decides.

    >>> import httpx
    >>> library_of(httpx.Headers()).__name__
    'httpx'
    """
    for cls in type(thing).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in LIBRARIES:
            return sys.modules[root]
    raise TypeError(f"{type(thing).__qualname__} is neither an httpx nor an httpx2 object")


def loaded() -> tuple[ModuleType, ...]:
    """The supported libraries that have been imported in this process."""
    # A None entry is how an import is blocked (python -X importtime, tests): not loaded.
    found = (sys.modules.get(name) for name in LIBRARIES)
    return tuple(module for module in found if module is not None)


def errors(name: str) -> tuple[type[Exception], ...]:
    """The exception class ``name`` (e.g. ``"TransportError"``) from every loaded library.

    Meant for ``except errors("TransportError"):``, which Python evaluates only
    when an exception is on its way, so the lookup costs nothing on success.
    """
    found: tuple[type[Exception], ...] = tuple(getattr(library, name) for library in loaded())
    return found


def default_library() -> ModuleType:
    """The library for code that makes its own client: ``$IFMATCH_HTTP``, httpx, or httpx2."""
    chosen = os.environ.get(ENVIRONMENT, "").strip()
    if chosen:
        if chosen not in LIBRARIES:
            raise ValueError(f"{ENVIRONMENT}={chosen!r}: expected one of {', '.join(LIBRARIES)}")
        return importlib.import_module(chosen)
    for name in LIBRARIES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    # Named after httpx, so that `ifmatch get` names the missing extra (ifmatch.cli).
    raise ModuleNotFoundError(
        "ifmatch's client needs httpx or httpx2: pip install 'ifmatch[client]'", name="httpx"
    )


@functools.cache
def derive(mixin: type[Any], base: type[Any]) -> type[Any]:
    """A class that is ``mixin`` and ``base`` (one library's ``SyncByteStream``, say).

    Cached, so each library gets one class per mixin.
    """
    return type(mixin.__name__, (mixin, base), {"__module__": mixin.__module__})
