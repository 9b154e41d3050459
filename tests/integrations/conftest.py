"""Django is configured once, in-process, for the integration tests.

The database is a SQLite file in a temporary directory (the model helper's tests create their
tables themselves); nothing else touches it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import django
from django.conf import settings

if not settings.configured:
    DATABASE_DIR = tempfile.mkdtemp(prefix="ifmatch-django-")
    atexit.register(shutil.rmtree, DATABASE_DIR, ignore_errors=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="ifmatch-tests-only",
        ALLOWED_HOSTS=["testserver", "localhost"],
        ROOT_URLCONF="tests.integrations.django_app",
        MIDDLEWARE=["ifmatch.django.ConditionalMiddleware"],
        IFMATCH={"max_buffer": 16 * 1024},
        INSTALLED_APPS=["tests.integrations.djmodels"],
        USE_TZ=True,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(DATABASE_DIR) / "db.sqlite3"),
                # atomic() takes SQLite's write lock at BEGIN: writers queue instead of failing.
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            }
        },
    )
    django.setup()
