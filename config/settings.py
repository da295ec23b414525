"""Settings for Tailor.

With no environment variables set this is the *embedded default*: SQLite under
``var/``, an in-process cache and Celery tasks run eagerly, so ``make demo``
needs no services. Production services are switched on by environment
variables (``DATABASE_URL``, ``REDIS_URL``, ``CELERY_BROKER_URL``, ...); see the
README's "Settings and services" section.
"""

from pathlib import Path

import environ

from personalization import beat as tailor_beat

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("TAILOR_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not DATABASE_URL

# Embedded (no DATABASE_URL) is a development setup, so DEBUG defaults on there
# and off as soon as a real database is configured.
DEBUG = env.bool("DEBUG", default=EMBEDDED)

_DEV_SECRET = "tailor-embedded-development-key-not-for-production-use-0123456789"  # noqa: S105 - embedded development only; production must set SECRET_KEY
# The development key is public: with DEBUG off (a server someone can reach), even on the embedded
# database, it would let anyone forge sessions and signed cookies, so refuse to start instead.
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured(
        "Set SECRET_KEY: DEBUG is off, and the built-in development key is public (it is used only when DEBUG is on)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "demo",
    "content",
    "tracking",
    "personalization",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail.api.v2",
    "wagtail",
    "modelcluster",
    "taggit",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs/ works offline
    "corsheaders",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tracking.middleware.VisitorMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "tailor.sqlite3",
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
        }
    }

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
            "KEY_PREFIX": "tailor",
        }
    }
    CACHES["signals"] = CACHES["default"]
    # Wagtail's image renditions are rows in the database; a per-process cache of them spares a query per
    # image and keeps pages with images up while Redis is down.
    CACHES["renditions"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "renditions"}
else:
    # Visit counts, features and scores are per visitor: the default 300 entries would evict them constantly.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tailor",
            "OPTIONS": {"MAX_ENTRIES": 200_000},
        },
        # What every process must see alike (the catalog version: a publish or a model activated by
        # a command reaches the running server within a second). locmem is private to each process.
        "signals": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "signals"),
        },
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security: on by default whenever DEBUG is off, each overridable for a TLS-terminating proxy.
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    # Subdomains and the browsers' preload list bind every other host of the domain to HTTPS for
    # a year (preload is hard to undo): the operator opts in, Tailor cannot know the other hosts.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Wagtail
WAGTAIL_SITE_NAME = "Tailor"
WAGTAILADMIN_BASE_URL = env.str("WAGTAILADMIN_BASE_URL", default="http://127.0.0.1:8000")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILAPI_BASE_URL = WAGTAILADMIN_BASE_URL

# REST framework and OpenAPI
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "personalization.api.schema.TailorAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, decoded strictly: hostile JSON is a 400 naming where, never a 500 further on.
    "DEFAULT_PARSER_CLASSES": ["tracking.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tracking.api.parsers.JSONContentNegotiation",  # and +json types
    # Rate limits key on the client address: trust X-Forwarded-For only behind this many proxies.
    "NUM_PROXIES": env.int("TAILOR_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tailor API",
    "DESCRIPTION": "Per-visitor decisions for Wagtail slots, and the events that teach them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["personalization.api.schema.tailor_endpoints_only"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Headless frontends on other origins call the API with the X-Tailor-Visitor header.
CORS_ALLOWED_ORIGINS = env.list("TAILOR_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/(v1|v2)/.*$"
CORS_ALLOW_HEADERS = ("accept", "content-type", "x-tailor-visitor")
CORS_EXPOSE_HEADERS = ("X-Tailor-Visitor", "Retry-After")

# Celery: without a broker, tasks run eagerly in-process (embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Tailor's periodic jobs and their queues come from the plugin; the intervals are tunable here by environment.
CELERY_BEAT_SCHEDULE = tailor_beat.beat_schedule(
    decisions_flush_seconds=env.float("TAILOR_DECISION_FLUSH_SECONDS", default=2.0),
    features_rollup_seconds=env.float("TAILOR_FEATURES_ROLLUP_SECONDS", default=600.0),
    train_seconds=env.float("TAILOR_TRAIN_SECONDS", default=3600.0),
    retrain_due_seconds=env.float("TAILOR_RETRAIN_DUE_SECONDS", default=60.0),
    score_seconds=env.float("TAILOR_SCORE_SECONDS", default=300.0),
    cluster_seconds=env.float("TAILOR_CLUSTER_SECONDS", default=24 * 3600.0),
    results_rollup_seconds=env.float("TAILOR_RESULTS_ROLLUP_SECONDS", default=3600.0),
    guardrails_seconds=env.float("TAILOR_GUARDRAILS_SECONDS", default=3600.0),
    bandits_fold_seconds=env.float("TAILOR_BANDITS_FOLD_SECONDS", default=60.0),
)
CELERY_TASK_ROUTES = tailor_beat.TASK_ROUTES

# Tailor's own settings: one namespaced dict per app, read through each app's conf.py.
TAILOR = {
    # The catalog version lives in the cache every process shares (file-based when embedded, see CACHES).
    "CATALOG_CACHE": "signals",
    # "direct" writes each decision in the request (embedded); "redis" buffers it
    # and a worker bulk-writes it (production default when REDIS_URL is set).
    "DECISION_LOG_BACKEND": env.str("TAILOR_DECISION_LOG_BACKEND", default="redis" if REDIS_URL else "direct"),
    "EVENT_INGEST_BACKEND": env.str("TAILOR_EVENT_INGEST_BACKEND", default="redis" if REDIS_URL else "direct"),
    "EVENTS_RATE_VISITOR": env.str("TAILOR_EVENTS_RATE_VISITOR", default="240/min"),
    "EVENTS_RATE_IP": env.str("TAILOR_EVENTS_RATE_IP", default="2400/min"),
    "EVENT_CLAIM_IDLE_SECONDS": env.float("TAILOR_EVENT_CLAIM_IDLE_SECONDS", default=30.0),
    "CONSENT_MODE": env.str("TAILOR_CONSENT_MODE", default="implied"),
    # A request after this long without one starts a new visit (the README tour's test shortens it).
    "VISIT_TIMEOUT_SECONDS": env.int("TAILOR_VISIT_TIMEOUT_SECONDS", default=30 * 60),
    "RETENTION_DAYS": env.int("TAILOR_RETENTION_DAYS", default=90),
    "COUNTRY_HEADER": env.str("TAILOR_COUNTRY_HEADER", default="HTTP_CF_IPCOUNTRY"),
    "VISITOR_COOKIE_SECURE": env.bool("TAILOR_VISITOR_COOKIE_SECURE", default=not DEBUG),
    # "local" trains in the worker process; "dask" sends training to the cluster at DASK_SCHEDULER_ADDRESS.
    "TRAINING_BACKEND": env.str("TAILOR_TRAINING_BACKEND", default="local"),
    "DASK_SCHEDULER_ADDRESS": env.str("DASK_SCHEDULER_ADDRESS", default=""),
    # /metrics is refused unless a bearer token or an address allow-list is configured
    "METRICS_TOKEN": env.str("TAILOR_METRICS_TOKEN", default=""),
    "METRICS_ALLOWED_IPS": env.list("TAILOR_METRICS_ALLOWED_IPS", default=[]),
    # GET /api/v1/slots/<key>/results/ also accepts this bearer token (for BI tools) when set
    "RESULTS_API_TOKEN": env.str("TAILOR_RESULTS_API_TOKEN", default=""),
    # Pages cached whole by a CDN or reverse proxy: slots are personalized in the browser (tracking/conf.py)
    "CACHE_FRIENDLY": env.bool("TAILOR_CACHE_FRIENDLY", default=False),
}
# Wagtail's frontend-cache invalidation: publishing a page, or a slot it places, sends PURGE to this cache
# (nginx, Varnish, ...); other backends (Cloudflare, CloudFront) are configured here the same way.
if FRONTEND_CACHE_URL := env.str("TAILOR_FRONTEND_CACHE_URL", default=""):
    WAGTAILFRONTENDCACHE = {
        "proxy": {"BACKEND": "wagtail.contrib.frontend_cache.backends.HTTPBackend", "LOCATION": FRONTEND_CACHE_URL}
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tasks": {"level": "WARNING"},
        "wagtail": {"level": "WARNING"},
    },
}
if CELERY_TASK_ALWAYS_EAGER:
    # Eager tasks run inside the command or request that sends them: a line per task (thousands in
    # simulate_traffic) would bury the command's own output. A worker's log keeps them.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
