"""Discord rate-limit windows in the shared cache (Redis), so every worker honours every 429."""

import logging
import math
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "notifications:discord:not-before:"


class CacheRateLimits:
    """A bucket's "not before" instant as a wall-clock epoch: monotonic clocks are per process.

    Fails open: if the cache is unreachable we post anyway (Discord answers 429 if we are early,
    and that is still honoured in-process), rather than leave an alert unsent or half-known.
    """

    def wait_seconds(self, bucket: str) -> float:
        try:
            until = cache.get(_PREFIX + bucket)
        except Exception:
            logger.warning("rate-limit cache unreachable; posting to bucket %s unthrottled", bucket)
            return 0.0
        return 0.0 if until is None else max(0.0, float(until) - time.time())

    def block(self, bucket: str, seconds: float) -> None:
        until = time.time() + seconds
        try:
            current = cache.get(_PREFIX + bucket)
            if current is not None and float(current) >= until:
                return  # a longer window is already set; never shorten it
            cache.set(_PREFIX + bucket, until, timeout=math.ceil(seconds) + 1)
        except Exception:
            logger.warning("rate-limit cache unreachable; window for bucket %s not shared", bucket)
