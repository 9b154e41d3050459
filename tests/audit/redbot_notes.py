"""Run REDbot on one URL and print the names of its notes as JSON (one subprocess per URL).

REDbot runs on its own event loop (thor), which is global, so each check gets
a fresh process: ``python -m tests.audit.redbot_notes URL``.
"""

from __future__ import annotations

import json
import sys
from configparser import ConfigParser

import thor
from redbot.resource import HttpResource


def notes(url: str) -> dict[str, str]:
    """REDbot's notes for ``url``: note class name -> level (good, warning, bad, info)."""
    config = ConfigParser()
    config.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(config["redbot"])
    resource.set_request(url)
    found: dict[str, str] = {}

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    resource.check()
    thor.run()
    for note in resource.response.notes:
        found[type(note).__name__] = str(note.level.value)
    return found


if __name__ == "__main__":
    print(json.dumps(notes(sys.argv[1])))
