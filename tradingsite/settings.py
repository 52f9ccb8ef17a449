"""Settings for the trading platform.

Every value comes from the environment (django-environ); each has a documented local default, except the
production secrets, which have none when DJANGO_DEBUG is off, so a missing one stops start-up with a
message naming the variable. `make run` sets DJANGO_DEBUG=True and embedded defaults.
"""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from tradingsite.startup import SettingsError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()  # FOO_FILE=/path/to/secret works for every variable
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win


_missing: list[str] = []  # every missing secret is named at once, not one per attempt


def _required(name: str, *, debug_default: str, debug: bool) -> str:
    """A secret: a local default under DEBUG, otherwise it must be set."""
    value = env.str(name, default="")
    if value:
        return value
    if debug:
        return debug_default
    _missing.append(name)
    return ""


# --- Core -------------------------------------------------------------------------------------
def _strict_bool(name: str, *, default: bool) -> bool:
    """django-environ reads any unknown word as False; a typo must not silently change behaviour."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}.")


DEBUG = _strict_bool("DJANGO_DEBUG", default=False)

DEV_SECRET_KEY = "local-insecure-development-key-never-for-production"  # noqa: S105  (public)
SECRET_KEY = _required("DJANGO_SECRET_KEY", debug_default=DEV_SECRET_KEY, debug=DEBUG)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    _missing.append("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "channels",
    "accounts",
    "apiauth",
    "execution",
    "strategies",
    "analytics",
    "simulator",
    "notifications",
    "chatops",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.TenantMiddleware",
]

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = "tradingsite.wsgi.application"
ASGI_APPLICATION = "tradingsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores ------------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/tradingsite")
}
# PostgreSQL only, here and in `make run` (which starts its own when DATABASE_URL is unset): the worker,
# beat and hubs write at the same moments (09:30:00), which SQLite serialises into "database is locked"
# and lost desk steps (issue 12).
if not DATABASES["default"]["ENGINE"].endswith(("postgresql", "postgis")):
    raise SettingsError(
        f"DATABASE_URL must point at PostgreSQL, not {DATABASES['default']['ENGINE']}; leave it unset "
        "under `make run` to use its embedded PostgreSQL."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")


def _next_redis_db(url: str) -> str:
    """The same server, the next database number: the cache lives apart from the Celery queues and
    the channel layer, so clearing the cache (tests do) never drops a queued task."""
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db) + 1) % 16}" if db.isdigit() else f"{url.rstrip('/')}/1"


REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=_next_redis_db(REDIS_URL))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_PREFIX": "ts",
    }
}

# --- Auth and passwords -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Time: store UTC, compute sessions in exchange time (markets/sessions.py) ----------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
EXCHANGE_TIME_ZONE = "America/New_York"

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The charting library comes from npm (`npm ci` in `make run` / `make test`), never copied in.
CHARTS_DIST = BASE_DIR / "node_modules" / "lightweight-charts" / "dist"
STATICFILES_DIRS = [
    *([BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []),
    *([("vendor/lightweight-charts", CHARTS_DIST)] if CHARTS_DIST.exists() else []),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG  # serve straight from the apps while developing

# --- Broker credentials -----------------------------------------------------------------------
# Fernet keys, comma-separated, newest first: new secrets are encrypted with the first, every key can
# decrypt, so a key is rotated by prepending a new one and running `manage.py rotate_credentials`.
DEV_BROKER_CREDENTIALS_KEY = "QK4yf86rMNhgUXrwtiR9d7jKIgmPpIfTrbNBPfIkntE="  # public: DEBUG only
BROKER_CREDENTIALS_KEYS = env.list(
    "BROKER_CREDENTIALS_KEYS", default=[DEV_BROKER_CREDENTIALS_KEY] if DEBUG else []
)
if not BROKER_CREDENTIALS_KEYS:
    _missing.append("BROKER_CREDENTIALS_KEYS")
if _missing:
    raise SettingsError(
        f"Set {', '.join(_missing)} in the environment (required when DJANGO_DEBUG is off; "
        "README.md, Settings, says what each holds), or DJANGO_DEBUG=True for local development."
    )


def _refuse_development_secrets() -> None:
    """The development secrets are in this file, so anyone can read them: with DEBUG off, refuse to
    start with either rather than sign sessions or encrypt broker API keys with a public key."""
    if DEBUG:
        return
    if SECRET_KEY == DEV_SECRET_KEY:
        raise SettingsError(
            "DJANGO_SECRET_KEY is the development key, which is public; set a secret one."
        )
    if DEV_BROKER_CREDENTIALS_KEY in BROKER_CREDENTIALS_KEYS:
        raise SettingsError(
            "BROKER_CREDENTIALS_KEYS contains the development key, which is public: prepend a new "
            "Fernet key, run `manage.py rotate_credentials`, then remove the development key."
        )


_refuse_development_secrets()

# --- ProjectX gateway -------------------------------------------------------------------------
# Live accounts talk to TopStepX; simulated accounts to our own simulator (`manage.py runsimulator`).
PROJECTX_LIVE_API_URL = env.str("PROJECTX_LIVE_API_URL", default="https://api.topstepx.com/api")
PROJECTX_LIVE_USER_HUB_URL = env.str(
    "PROJECTX_LIVE_USER_HUB_URL", default="https://rtc.topstepx.com/hubs/user"
)
PROJECTX_LIVE_MARKET_HUB_URL = env.str(
    "PROJECTX_LIVE_MARKET_HUB_URL", default="https://rtc.topstepx.com/hubs/market"
)
SIMULATOR_HOST = env.str("SIMULATOR_HOST", default="127.0.0.1")
SIMULATOR_PORT = env.int("SIMULATOR_PORT", default=8700)
PROJECTX_SIM_API_URL = env.str(
    "PROJECTX_SIM_API_URL", default=f"http://{SIMULATOR_HOST}:{SIMULATOR_PORT}/api"
)
PROJECTX_SIM_USER_HUB_URL = env.str(
    "PROJECTX_SIM_USER_HUB_URL", default=f"http://{SIMULATOR_HOST}:{SIMULATOR_PORT}/hubs/user"
)
PROJECTX_SIM_MARKET_HUB_URL = env.str(
    "PROJECTX_SIM_MARKET_HUB_URL", default=f"http://{SIMULATOR_HOST}:{SIMULATOR_PORT}/hubs/market"
)
PROJECTX_TIMEOUT_SECONDS = env.float("PROJECTX_TIMEOUT_SECONDS", default=10.0)
SIMULATOR_DATA_DIR = env.str("SIMULATOR_DATA_DIR", default=str(BASE_DIR / ".run" / "simulator"))
# The simulator's control API (/_sim: clock, users, faults) answers only callers sending this in
# the X-Simulator-Secret header; left empty, only loopback callers and only under DEBUG.
SIMULATOR_CONTROL_SECRET = env.str("SIMULATOR_CONTROL_SECRET", default="")
MARKETDATA_CACHE_PREFIX = env.str("MARKETDATA_CACHE_PREFIX", default="mdc")  # Redis hot layer keys
MARKET_DATA_DIR = env.str("MARKET_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data"))
HEALTH_KEY_PREFIX = env.str("HEALTH_KEY_PREFIX", default="health")  # hub states, price feeds
# The market-feed watchdog (execution/hubs_process.py): a market hub can freeze for minutes while its
# connection looks healthy. Every check interval each fed contract's newest hub print is compared
# with the gateway's newest REST bar; this far behind, the feed is stale (desks do not step).
MARKET_FEED_CHECK_SECONDS = env.float("MARKET_FEED_CHECK_SECONDS", default=30.0)
MARKET_FEED_STALE_SECONDS = env.float("MARKET_FEED_STALE_SECONDS", default=90.0)

# --- Celery -----------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
# Safe only because every task is idempotent (see each task's docstring).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# Longer than any task or countdown, else Redis redelivers a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = "normal"
# Queues in priority order. Three worker pools (Procfile) so that nothing a tenant queues can delay
# the work that protects an account: `worker` takes only critical and high (the kill switch, locks,
# order sends and cancels, reconciliation with its risk watch, the strategies' minute steps);
# `worker_default` takes normal and low (syncs, the day roll, notifications); `worker_batch` takes
# backtests (runs and sweep cells, limited per tenant: strategies/backtests.py) and housekeeping.
CELERY_TASK_QUEUES_ORDER = ["critical", "high", "normal", "low", "backtests", "background"]
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_TASK_QUEUES_ORDER]
CELERY_TASK_ROUTES = {
    "execution.account_*": {"queue": "critical"},  # flatten, cancel-all: the kill switch
    "execution.day_flatten_due": {"queue": "critical"},
    "execution.order_*": {"queue": "high"},
    "execution.orders_reconcile*": {"queue": "high"},  # fills, brackets and the risk watch
    "strategies.desk*": {"queue": "high"},  # the live strategies' minute steps
    "strategies.backtest_*": {"queue": "backtests"},
    "strategies.*": {"queue": "normal"},
    "analytics.*": {"queue": "low"},
    "*.cleanup_*": {"queue": "background"},
    "chatops.cleanup": {"queue": "background"},
    "notifications.*": {"queue": "low"},
}
# Per desk: unfinished backtests (queued or running; a sweep counts its cells) and how many of them are
# handed to the backtest pool at once, so one desk cannot keep every other desk's runs waiting.
BACKTEST_MAX_QUEUED_PER_TENANT = env.int("BACKTEST_MAX_QUEUED_PER_TENANT", default=500)
BACKTEST_MAX_RUNNING_PER_TENANT = env.int("BACKTEST_MAX_RUNNING_PER_TENANT", default=2)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Channels ---------------------------------------------------------------------------------
# Pub/sub layer: a group send is one PUBLISH however many dashboards watch, and joining or leaving a
# group is a (un)subscribe on a shared connection, so a thousand sockets closing at once stay cheap.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "ts-channels"},
    }
}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apiauth.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "VERSION": "0.1.0",
    # Backtests and evaluations share one status set: one named enum for both.
    "ENUM_NAME_OVERRIDES": {"RunStatusEnum": "strategies.models.BacktestStatus"},
}
# API tokens (apiauth/): short-lived access JWTs, revocable refresh JWTs; only a hash is stored.
# https://django-rest-framework-simplejwt.readthedocs.io/en/latest/settings.html
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("API_ACCESS_TOKEN_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("API_REFRESH_TOKEN_DAYS", default=14)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="noreply@localhost")

# --- Discord interactions (chatops/, docs/discord.md) -------------------------------------------
# Empty public key: the interactions endpoint answers 404 (Discord control switched off).
DISCORD_APPLICATION_ID = env.str("DISCORD_APPLICATION_ID", default="")
DISCORD_PUBLIC_KEY = env.str("DISCORD_PUBLIC_KEY", default="")
DISCORD_API_URL = env.str("DISCORD_API_URL", default="https://discord.com/api/v10")

# --- Security (production differs only by environment) ----------------------------------------
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# How many reverse proxies stand in front of the web process. 0: X-Forwarded-* headers come from the
# client and are ignored (they could be forged); N: the address the outermost proxy saw is the client's
# (login throttles, API throttles), and X-Forwarded-Proto from the proxy says whether it was HTTPS.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise SettingsError("TRUSTED_PROXY_COUNT must be 0 or more.")
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT  # the API throttles' client address
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Login throttle (accounts/login_throttle.py): failed logins counted on the cache ----------------
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)
LOGIN_THROTTLE_KEY_PREFIX = "login-fail"

# --- Logging: secrets never reach a log (accounts/logging.py) -----------------------------------
# The web, the hubs, and Celery's workers and beat alike (tradingsite/celery.py: use_django_logging).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "accounts.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            # The process's real stderr: Celery may replace sys.stderr with a proxy into the log.
            "stream": "ext://sys.__stderr__",
            "filters": ["redact"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
