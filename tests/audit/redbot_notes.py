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
    """REDbot's verdicts for ``url``: note class name -> level (good, warning, bad, info),
    plus its ``*_support`` attributes as ``support:inm`` -> ``True``/``False``/``None``."""
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
    for kind in ("inm", "ims", "partial", "gzip"):
        found[f"support:{kind}"] = str(getattr(resource, f"{kind}_support"))
    return found


if __name__ == "__main__":
    print(json.dumps(notes(sys.argv[1])))
