"""Settings for the browser tests' server process: the test settings, plus the charting library served
from node_modules (until the real settings carry the same STATICFILES_DIRS entry) and static files
served by WhiteNoise straight from the finders."""

import os

from tradingsite.test_settings import *  # noqa: F403

CHARTS = ("vendor/lightweight-charts", BASE_DIR / "node_modules" / "lightweight-charts" / "dist")  # noqa: F405
if not any(isinstance(entry, tuple) and entry[0] == CHARTS[0] for entry in STATICFILES_DIRS):  # noqa: F405
    STATICFILES_DIRS = [*STATICFILES_DIRS, CHARTS]  # noqa: F405
WHITENOISE_USE_FINDERS = True
# The test's own broker-metrics keys, so the health page shows what the test recorded and nothing else.
GATEWAY_METRICS_KEY_PREFIX = os.environ.get("WEB_TEST_METRICS_PREFIX", "gateway")
