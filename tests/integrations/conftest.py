"""Django is configured once, in-process, for the integration tests (no database)."""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="ifmatch-tests-only",
        ALLOWED_HOSTS=["testserver", "localhost"],
        ROOT_URLCONF="tests.integrations.django_app",
        MIDDLEWARE=["ifmatch.django.ConditionalMiddleware"],
        IFMATCH={"max_buffer": 16 * 1024},
        INSTALLED_APPS=[],
        USE_TZ=True,
        DATABASES={},
    )
    django.setup()
