"""Settings for the test suite: the production settings module with test-only environment defaults.

Nothing here changes behaviour; it only supplies the secrets that production must be given.
"""

import os
import time

os.environ.setdefault("DJANGO_DEBUG", "False")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-long-enough-for-hs256-jwt-signing")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault(
    "BROKER_CREDENTIALS_KEYS", "KA3xKlAr7-M4GYghd_gVpBQGb_bOziMFWVthgUUZBSo="
)  # tests only
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "False")
os.environ.setdefault("DJANGO_SESSION_COOKIE_SECURE", "False")
os.environ.setdefault("DJANGO_CSRF_COOKIE_SECURE", "False")

from tradingsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures only
# No collectstatic in tests: serve names as they are.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True

# Parallel test workers (and parallel runs, each with its own TEST_NAMESPACE) share one Redis: give each
# its own key space.
_WORKER = os.environ.get("TEST_NAMESPACE", "") + os.environ.get("PYTEST_XDIST_WORKER", "main")
CACHES["default"]["KEY_PREFIX"] = f"ts-test-{_WORKER}"  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"ts-channels-test-{_WORKER}"  # noqa: F405
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "global_keyprefix": f"test-{_WORKER}:",  # the queues too: a test reading "low" sees its own tasks
}
# Market-data hot layer: a run's own keys, so a day cached by an earlier run is never served.
MARKETDATA_CACHE_PREFIX = f"mdc-test-{_WORKER}-{os.getpid()}-{time.time_ns()}"
HEALTH_KEY_PREFIX = f"health-test-{_WORKER}"  # hub states and price feeds the hubs process reports
# Login failures: a run's own counters, so failures left by an earlier run never throttle this one.
LOGIN_THROTTLE_KEY_PREFIX = f"login-fail-test-{_WORKER}-{os.getpid()}-{time.time_ns()}"
