"""Verity's one settings module, read from the environment.

``VERITY_ENV=development`` (the default) runs everything embedded: SQLite and Celery's filesystem
broker under ``VERITY_DATA_DIR`` (default ``./var``), no servers needed. ``VERITY_ENV=production``
requires ``SECRET_KEY``, ``DATABASE_URL`` and ``CELERY_BROKER_URL`` and turns on the secure
defaults that ``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

VERITY_ENV = env_str("VERITY_ENV", "development")
if VERITY_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"VERITY_ENV must be development or production, not {VERITY_ENV!r}")
PRODUCTION = VERITY_ENV == "production"

DATA_DIR = Path(env_str("VERITY_DATA_DIR", str(BASE_DIR / "var")) or "").resolve()


def _require(name: str) -> str:
    value = env_str(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when VERITY_ENV=production.")
    return value


def _development_secret_key() -> str:
    # Kept in the data folder so sessions survive a restart of the embedded portal.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _require("SECRET_KEY") if PRODUCTION else (env_str("SECRET_KEY") or _development_secret_key())
# Off unless a developer asks for it (DEBUG=true): debug pages show settings and code to anyone.
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc files served locally: no CDN
    "verification",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication (an admin's dataset zip has a larger limit), still before any body is read.
    "portal.middleware.RequestSizeLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Static files straight from the app server: collected ones in production; in development (where
# runserver serves nothing with DEBUG off) from the apps' folders through the finders.
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
if not PRODUCTION:
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "verification.context_processors.verity",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = _require("DATABASE_URL") if PRODUCTION else env_str(
    "DATABASE_URL", f"sqlite:///{DATA_DIR / 'verity.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, for the test database too: worker processes started by the tests
    # must see the rows the test wrote. WAL and a busy timeout let web and worker share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-verity.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check goes through this backend, which holds the one failed-login limit
# (verification/login_limits.py) for every login door, /admin/login/ included.
AUTHENTICATION_BACKENDS = ["verification.login_limits.RateLimitedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "verification:case_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")) or "")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Images, heatmaps and checkpoints go through Django's storage API, so object storage can
    # replace the file system by configuration alone. Media is never served as a public folder:
    # every file goes through a view that checks the user's team.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")) or "")
MEDIA_URL = None  # deliberately no public media URL

# --- Uploads ----------------------------------------------------------------------------------
# One set of limits for a submitted case, through the form and the API alike (verification/services/intake.py):
# one image (alone or inside a zip), images per case (files inside zips counted), and what the zips
# of one submission unpack to together (checked from the zip's directory before anything is
# inflated, and again while reading, so a zip bomb is refused without being inflated).
VERITY_MAX_UPLOAD_BYTES = env_int("VERITY_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
VERITY_MAX_IMAGE_PIXELS = env_int("VERITY_MAX_IMAGE_PIXELS", 40_000_000)
VERITY_MAX_FILES_PER_CASE = env_int("VERITY_MAX_FILES_PER_CASE", 50)
VERITY_MAX_ARCHIVE_BYTES = env_int("VERITY_MAX_ARCHIVE_BYTES", 200 * 1024 * 1024)
# Two zip limits of the web form's old intake are gone: a setting that no longer does anything
# must not look as if it does.
for _gone, _instead in (("VERITY_MAX_ZIP_MEMBERS", "VERITY_MAX_FILES_PER_CASE (files inside zips count)"),
                        ("VERITY_MAX_ZIP_UNCOMPRESSED_BYTES", "VERITY_MAX_ARCHIVE_BYTES")):
    if env_str(_gone):
        raise ImproperlyConfigured(f"{_gone} is no longer read; set {_instead} instead, and remove {_gone}.")
# Whole request bodies above this are refused with 413 from the Content-Length header alone.
VERITY_MAX_REQUEST_BYTES = env_int("VERITY_MAX_REQUEST_BYTES", 200 * 1024 * 1024)
# Datasets (admins): a zip uploaded as a dataset may be larger than a case's request (the request
# limit above is raised to this for the two dataset endpoints only, for admins); it is unpacked
# under VERITY_DATASET_DIR, within the member and unpacked-size limits.
VERITY_DATASET_DIR = Path(env_str("VERITY_DATASET_DIR", str(DATA_DIR / "datasets")) or "")
# Server folders an admin may register a dataset from by path (comma-separated), besides
# VERITY_DATASET_DIR. Nothing outside them can be read through the Datasets page or the API.
VERITY_DATASET_ROOTS = [Path(p) for p in env_list("VERITY_DATASET_ROOTS", [])]
VERITY_MAX_DATASET_ZIP_BYTES = env_int("VERITY_MAX_DATASET_ZIP_BYTES", 2 * 1024**3)
VERITY_MAX_DATASET_UNZIPPED_BYTES = env_int("VERITY_MAX_DATASET_UNZIPPED_BYTES", 8 * 1024**3)
VERITY_MAX_DATASET_ZIP_MEMBERS = env_int("VERITY_MAX_DATASET_ZIP_MEMBERS", 500_000)
# Files larger than this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = VERITY_MAX_FILES_PER_CASE

# The Ed25519 key that signs verification memos: a file outside the database, made on first use
# (default VERITY_DATA_DIR/keys/memo-ed25519.pem, mode 0600). Back it up with the database.
VERITY_SIGNING_KEY = env_str("VERITY_SIGNING_KEY", "") or ""

# --- Models -----------------------------------------------------------------------------------
VERITY_MODEL_DIR = Path(env_str("VERITY_MODEL_DIR", str(DATA_DIR / "models")) or "")
# A trained checkpoint to register at start-up when no model is active (optional).
VERITY_MODEL_CHECKPOINT = env_str("VERITY_MODEL_CHECKPOINT", "") or ""
VERITY_DEVICE = env_str("VERITY_DEVICE", "auto")
# Inference precision (ml/precision.py): auto (default: the fastest precision the device runs
# natively among fp32 and those the model's recipe showed to agree with fp32 on validation,
# ml/precision_check.py; a model without that record runs fp32), or fp32, bf16 (AMX / AVX512-BF16
# / tensor cores) or int8 (CPU; needs VERITY_INT8_CALIBRATION_DATA, a dataset whose train split
# calibrates it) to force one. One the hardware lacks falls back to fp32, with a warning in the log.
VERITY_INFERENCE_PRECISION = env_str("VERITY_INFERENCE_PRECISION", "auto") or "auto"
if VERITY_INFERENCE_PRECISION not in ("auto", "fp32", "bf16", "int8"):
    raise ImproperlyConfigured("VERITY_INFERENCE_PRECISION must be auto, fp32, bf16 or int8, "
                               f"not {VERITY_INFERENCE_PRECISION!r}.")
VERITY_INT8_CALIBRATION_DATA = env_str("VERITY_INT8_CALIBRATION_DATA", "") or ""
# int8 only: an image whose int8 verdict lies within this many log-odds of the threshold is judged
# again by the fp32 model (0 turns the recheck off and frees the fp32 copy each worker keeps).
# Unset: the band measured on validation, ml.precision.INT8_RECHECK_LOG_ODDS (benchmarks/precision.md).
VERITY_INT8_RECHECK_LOG_ODDS: float | None = (
    env_float("VERITY_INT8_RECHECK_LOG_ODDS", 0.0) if env_str("VERITY_INT8_RECHECK_LOG_ODDS", "") else None)
if VERITY_INT8_RECHECK_LOG_ODDS is not None and VERITY_INT8_RECHECK_LOG_ODDS < 0:
    raise ImproperlyConfigured("VERITY_INT8_RECHECK_LOG_ODDS must be 0 (off) or a positive number of log-odds.")
# Model versions kept loaded per worker process (the active one and recently used re-run versions).
VERITY_MODEL_CACHE_SIZE = env_int("VERITY_MODEL_CACHE_SIZE", 2)
# A calibrated probability this close to the threshold is shown as "Uncertain", not as a verdict.
# (One setting for the portal and the API, so both call the same verdicts uncertain.)
try:
    VERITY_UNCERTAIN_MARGIN = float(env_str("VERITY_UNCERTAIN_MARGIN", "0.1") or "0.1")
except ValueError:
    raise ImproperlyConfigured("VERITY_UNCERTAIN_MARGIN must be a number such as 0.1.") from None
if not 0 <= VERITY_UNCERTAIN_MARGIN < 0.5:
    raise ImproperlyConfigured("VERITY_UNCERTAIN_MARGIN must be at least 0 and below 0.5.")

# --- Celery (https://docs.celeryq.dev/en/stable/userguide/configuration.html) ----------------
_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = _require("CELERY_BROKER_URL") if PRODUCTION else env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        # Without this, kombu writes its exchange files to ./control of whatever the cwd is.
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls its folder; kombu's default of 1 s made every message
        # wait up to a second (a batch of claimed analyses leaves one message each behind).
        "polling_interval": env_float("VERITY_BROKER_POLL_S", 0.05),
    }
else:
    # Redis: redeliver a task whose worker vanished after this many seconds without an ack.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_RESULT_BACKEND = None  # results live in the database, written by verification.services
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# A task is acknowledged only after it finishes and is re-queued if its worker dies, so a
# crashed worker loses nothing; recording a result is idempotent, so a repeat does no harm.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_TASK_ROUTES = {
    "worker.tasks.analyse_image": {"queue": "inference"},
    "worker.tasks.requeue_stuck": {"queue": "inference"},
    "worker.tasks.train_model": {"queue": "training"},
    # A scan reads and decodes every image of a dataset (up to hundreds of thousands).
    "worker.tasks.scan_dataset": {"queue": "training"},
    # Evaluations read a whole dataset or every reviewed image: heavy, so never ahead of inference.
    "worker.tasks.evaluate_model": {"queue": "training"},
    "worker.tasks.reevaluate_active_model": {"queue": "training"},
    # Webhook deliveries are short network calls; they share the inference queue, which every
    # worker consumes, rather than a queue that a deployment might forget to start.
    "worker.tasks.deliver_webhook": {"queue": "inference"},
    # Re-share stability checks run the model on an image and its copies: inference work.
    "worker.tasks.reshare_stability": {"queue": "inference"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A pool process loads the active model, warms it up and measures its tile batch (worker/tasks.py,
# ml/tilebatch.py) before it reports itself up. Celery's default of 4 s to report killed a pool
# process whose model took longer, and the next one, in a loop (a 512 px model on one core).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env_float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", 120.0)
# Publishing gives up quickly when the broker is down: the row stays queued and the sweeper below
# re-sends it, so a web request never hangs on an unreachable broker.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# Batching: a worker takes up to this many queued analyses into one forward pass, waiting at
# most VERITY_BATCH_WAIT_MS for more to arrive.
VERITY_BATCH_SIZE = env_int("VERITY_BATCH_SIZE", 8)
# The same for a worker whose model runs on a CUDA GPU (worker/layout.py): it fills larger batches
# from the queue, whatever size the web process split a submission into.
VERITY_GPU_BATCH_SIZE = env_int("VERITY_GPU_BATCH_SIZE", 64)
VERITY_BATCH_WAIT_MS = env_int("VERITY_BATCH_WAIT_MS", 0)
# Whole-image analysis (ml.tiling, benchmarks/tiles.md): each image is judged on at most
# VERITY_MAX_TILES native-resolution tiles (past that the grid is thinned and the gaps are shown
# as not judged), run VERITY_TILE_BATCH at a time so memory stays bounded (0: the batch measured
# fastest per tile when the worker loads the model, ml/tilebatch.py); the Grad-CAM map's
# faithfulness is checked per image (1 + 3 extra tile forwards) unless turned off.
VERITY_MAX_TILES = env_int("VERITY_MAX_TILES", 64)
VERITY_TILE_BATCH = env_int("VERITY_TILE_BATCH", 0)
VERITY_CHECK_MAP_FAITHFULNESS = env_bool("VERITY_CHECK_MAP_FAITHFULNESS", True)
# The sweeper re-enqueues analyses queued longer than this (lost message) or running without a
# heartbeat from their claiming task for VERITY_CLAIM_DEAD_AFTER_S (dead worker: a kill -9 of the
# whole worker leaves its message unacknowledged until the broker's visibility timeout, an hour).
# The task beats every VERITY_CLAIM_HEARTBEAT_S; a dead claimant is taken back within
# VERITY_CLAIM_DEAD_AFTER_S + VERITY_SWEEP_INTERVAL_S (50 s with the defaults).
VERITY_SWEEP_QUEUED_AFTER_S = env_int("VERITY_SWEEP_QUEUED_AFTER_S", 120)
VERITY_SWEEP_INTERVAL_S = env_int("VERITY_SWEEP_INTERVAL_S", 20)
VERITY_CLAIM_HEARTBEAT_S = env_float("VERITY_CLAIM_HEARTBEAT_S", 5.0)
VERITY_CLAIM_DEAD_AFTER_S = env_int("VERITY_CLAIM_DEAD_AFTER_S", 30)
if not 0 < VERITY_CLAIM_HEARTBEAT_S * 3 <= VERITY_CLAIM_DEAD_AFTER_S:
    raise ImproperlyConfigured("VERITY_CLAIM_DEAD_AFTER_S must be at least three heartbeats "
                               "(3 x VERITY_CLAIM_HEARTBEAT_S), or live workers would look dead.")
# Training runs (worker.tasks.train_model, training queue) get their own, long, time limits.
VERITY_TRAINING_SOFT_TIME_LIMIT = env_int("VERITY_TRAINING_SOFT_TIME_LIMIT", 6 * 3600)
VERITY_TRAINING_TIME_LIMIT = env_int("VERITY_TRAINING_TIME_LIMIT", VERITY_TRAINING_SOFT_TIME_LIMIT + 600)
# How often (seconds at most) a running training task reads its cancel flag from the database.
VERITY_TRAINING_CANCEL_POLL_S = env_float("VERITY_TRAINING_CANCEL_POLL_S", 2.0)
# How often (seconds at most) a running training task stores its step progress (the run page's bar).
VERITY_TRAINING_PROGRESS_EVERY_S = env_float("VERITY_TRAINING_PROGRESS_EVERY_S", 2.0)
# A running training task touches its run at least every VERITY_TRAINING_STALE_S / 5 seconds (a
# heartbeat thread, so silent phases such as validation count as alive). A run silent for longer
# than VERITY_TRAINING_STALE_S lost its worker (killed, machine gone): the sweeper queues it again
# and the next task resumes it from its last finished epoch; after VERITY_TRAINING_MAX_ATTEMPTS
# claims it is failed instead, with a reason.
VERITY_TRAINING_STALE_S = env_int("VERITY_TRAINING_STALE_S", 600)
VERITY_TRAINING_MAX_ATTEMPTS = env_int("VERITY_TRAINING_MAX_ATTEMPTS", 3)
if VERITY_TRAINING_STALE_S < 10 or VERITY_TRAINING_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured("VERITY_TRAINING_STALE_S must be at least 10 (seconds) and "
                               "VERITY_TRAINING_MAX_ATTEMPTS at least 1.")
# Local torchvision ResNet50 ImageNet weights (a state_dict file) for runs without a base model
# to start from; empty: random initialisation. Never downloaded.
VERITY_PRETRAINED_WEIGHTS = env_str("VERITY_PRETRAINED_WEIGHTS", "") or ""
# The sweeper (worker.tasks.requeue_stuck) re-sends stuck analyses and training runs.
# Re-evaluation of the active model on the reviewed images of finalised cases (worker.tasks.
# reevaluate_active_model, training queue): how often, from how many images on, and how far below
# the version's own test accuracy the accuracy on them may fall before the dashboard warns of drift.
VERITY_REEVALUATE_EVERY_S = env_int("VERITY_REEVALUATE_EVERY_S", 24 * 3600)
if VERITY_REEVALUATE_EVERY_S < 60:
    raise ImproperlyConfigured("VERITY_REEVALUATE_EVERY_S must be at least 60 (seconds).")
VERITY_DRIFT_MIN_IMAGES = env_int("VERITY_DRIFT_MIN_IMAGES", 20)
if VERITY_DRIFT_MIN_IMAGES < 1:
    raise ImproperlyConfigured("VERITY_DRIFT_MIN_IMAGES must be at least 1.")
VERITY_DRIFT_TOLERANCE = env_float("VERITY_DRIFT_TOLERANCE", 0.05)
if not 0 <= VERITY_DRIFT_TOLERANCE < 1:
    raise ImproperlyConfigured("VERITY_DRIFT_TOLERANCE must be at least 0 and below 1 (an accuracy difference).")
CELERY_BEAT_SCHEDULE = {
    "requeue-stuck-analyses": {"task": "worker.tasks.requeue_stuck", "schedule": float(VERITY_SWEEP_INTERVAL_S),
                               "options": {"queue": "inference", "expires": VERITY_SWEEP_INTERVAL_S}},
    "reevaluate-active-model": {"task": "worker.tasks.reevaluate_active_model",
                                "schedule": float(VERITY_REEVALUATE_EVERY_S),
                                "options": {"queue": "training", "expires": VERITY_REEVALUATE_EVERY_S}},
}

# --- Cache (https://docs.djangoproject.com/en/5.2/topics/cache/) ---------------------------------
# API throttling counts requests in the cache. Local memory is per process, which is enough for
# the embedded portal; with several web processes set REDIS_URL (or CACHE_URL) so they share counts.
CACHE_URL = env_str("CACHE_URL") or env_str("REDIS_URL") or ""
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL,
                          "KEY_PREFIX": "verity"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "verity"}}

# --- REST framework (https://www.django-rest-framework.org/api-guide/settings/) ----------------
REST_FRAMEWORK = {
    # Token first: its authenticate_header() makes a missing credential a 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "verification.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["verification.api.permissions.HasTokenScope"],
    "DEFAULT_THROTTLE_CLASSES": ["verification.api.throttling.ClientRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "verification.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "verification.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "verification.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_VERSIONING_CLASS": None,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per token (or per signed-in user) and window; reads and submissions count apart.
VERITY_API_RATE_READ = env_str("VERITY_API_RATE_READ", "600/min")
VERITY_API_RATE_SUBMIT = env_str("VERITY_API_RATE_SUBMIT", "60/min")

# Webhooks: https only, and never to private, loopback, link-local or reserved addresses unless an
# admin allows private ones (a deployment whose receivers live on an internal network).
VERITY_WEBHOOK_ALLOW_PRIVATE = env_bool("VERITY_WEBHOOK_ALLOW_PRIVATE", False)
VERITY_WEBHOOK_TIMEOUT_S = env_int("VERITY_WEBHOOK_TIMEOUT_S", 10)
VERITY_WEBHOOK_MAX_ATTEMPTS = env_int("VERITY_WEBHOOK_MAX_ATTEMPTS", 6)

SPECTACULAR_SETTINGS = {
    "TITLE": "Verity API",
    "DESCRIPTION": (
        "Submit images to Verity, read the classifier's verdicts, Grad-CAM heatmaps and the audit "
        "history of your team's cases. Authenticate with `Authorization: Bearer <token>` (create "
        "tokens under /account/tokens/). Errors always have the shape "
        "`{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    "VERSION": "1.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several choice sets are called "verdict" or "status"; name each enum explicitly.
    "ENUM_NAME_OVERRIDES": {
        "AnalysisStatusEnum": "verification.models.AnalysisStatus",
        "VerdictEnum": "verification.models.Verdict",
        "ReviewerVerdictEnum": "verification.models.HumanVerdict",
        # A case's processing status (its analyses: pending / done / failed) and its review state (the
        # reviewers: open / finalised) are two different things with two names (API 1.1).
        "ProcessingStatusEnum": "verification.selectors.PROCESSING_STATES",
        "ReviewStateEnum": "verification.models.CaseStatus",
    },
}

# --- Security ---------------------------------------------------------------------------------
VERITY_LOGIN_MAX_FAILURES = env_int("VERITY_LOGIN_MAX_FAILURES", 5)
VERITY_LOGIN_WINDOW_S = env_int("VERITY_LOGIN_WINDOW_S", 900)
VERITY_TRUST_X_FORWARDED_FOR = env_bool("VERITY_TRUST_X_FORWARDED_FOR", False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
