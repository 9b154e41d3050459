"""A Flask app for the auditor to examine, served by Werkzeug's ``run_simple``.

``/file`` is ``send_file`` (conditional by default); ``/doc`` is a JSON view done
the way Flask documents it: ``add_etag()`` then ``make_conditional(request)``;
``/ifmatch/doc`` is a plain ``jsonify`` view under ifmatch's WSGI
``ConditionalMiddleware`` (for the docs' comparison column).

Run: ``python -m tests.audit.peer_flask PORT FILE``.
"""

from __future__ import annotations

import sys

from flask import Flask, Response, jsonify, request, send_file
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response as WerkzeugResponse

from ifmatch.wsgi import ConditionalMiddleware

DOCUMENT = {"title": "audited by ifmatch", "text": "conditional requests " * 60}


def create_app(file: str) -> DispatcherMiddleware:
    app = Flask(__name__)

    @app.get("/file")
    def serve_file() -> Response:
        return send_file(file)

    @app.get("/doc")
    def serve_doc() -> WerkzeugResponse:
        response = jsonify(DOCUMENT)
        response.add_etag()
        return response.make_conditional(request)

    plain = Flask("plain")

    @plain.get("/doc")
    def plain_doc() -> Response:
        return jsonify(DOCUMENT)

    plain.wsgi_app = ConditionalMiddleware(plain.wsgi_app)  # type: ignore[method-assign]
    return DispatcherMiddleware(app.wsgi_app, {"/ifmatch": plain})


if __name__ == "__main__":
    import logging

    from werkzeug.serving import run_simple

    # No per-request log lines: tests/support/servers.running pipes stderr without reading
    # it, and a full pipe (about 1000 lines) would block the server.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    run_simple("127.0.0.1", int(sys.argv[1]), create_app(sys.argv[2]), threaded=True)
