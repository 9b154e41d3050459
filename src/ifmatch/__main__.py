"""``python -m ifmatch``: the same as the ``ifmatch`` command."""

import sys

from ifmatch.cli import main

sys.exit(main())
