"""mlserve settings: one module, read from environment variables.

Every setting that an operator may change is listed in docs/operations.md.
A malformed value fails loudly at start-up instead of being guessed at.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envsecret(name: str, default: str | None = None) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/systemd secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {path!r}, which cannot be read: {exc}") from None
    return os.environ.get(name, default)


DEBUG = envbool("DEBUG", False)
MLSERVE_HTTPS = envbool("MLSERVE_HTTPS", False)

# Artifacts, batch inputs/results and the default SQLite database live here.
MLSERVE_DATA_DIR = Path(envstr("MLSERVE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MLSERVE_DATA_DIR.mkdir(parents=True, exist_ok=True)
# It holds the database, the secret key and every artifact: only mlserve's own user enters it
# (script helpers, run as another user when mlserve is root, cannot; see docs/security.md).
if MLSERVE_DATA_DIR.stat().st_uid == os.geteuid() and MLSERVE_DATA_DIR.stat().st_mode & 0o077:
    MLSERVE_DATA_DIR.chmod(0o700)


def generated_secret_key(path: Path) -> str:
    """A random key made once per installation and kept in the data dir (never a shared default)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = envsecret("SECRET_KEY") or generated_secret_key(MLSERVE_DATA_DIR / "secret_key")

ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "mlserve",
    "accounts",
    "models_registry",
    "deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mlserve.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "mlserve.middleware.FaultMiddleware",
]

ROOT_URLCONF = "mlserve.urls"
WSGI_APPLICATION = "mlserve.wsgi.application"

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
                "accounts.context_processors.registration",
            ],
        },
    },
]

# Database: SQLite in WAL mode under the data dir unless DATABASE_URL says otherwise.
SQLITE_OPTIONS = {
    # WAL lets the web and worker processes read while one writes;
    # IMMEDIATE avoids "database is locked" on lock upgrades.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL and not DATABASE_URL.startswith("sqlite"):
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)}
else:
    sqlite_path = dj_database_url.parse(DATABASE_URL)["NAME"] if DATABASE_URL else MLSERVE_DATA_DIR / "db.sqlite3"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "OPTIONS": SQLITE_OPTIONS,
            "TEST": {"NAME": str(MLSERVE_DATA_DIR / "test.sqlite3")},
        }
    }

REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": envstr("MLSERVE_CACHE_PREFIX", "mlserve"),
            # A Redis that does not answer fails a request in seconds, never hangs it.
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Counts failed logins (page, admin, POST /api/v1/auth/token) and locks out after too many.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("MLSERVE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("MLSERVE_LOGIN_COOLOFF_MINUTES", 15))
# Per username and address together: an attacker cannot lock a user out from everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False
# Requests per token (or deployment key) per window, per web process (shared through Redis with REDIS_URL).
MLSERVE_TOKEN_RATE = envstr("MLSERVE_TOKEN_RATE", "50000/minute")
# Who may create an account: "open" (anyone who reaches the site), "invite" (only through a
# single-use link that staff create on /accounts/invites/), "closed" (staff add users in the admin).
MLSERVE_REGISTRATION = envstr("MLSERVE_REGISTRATION", "open").strip().lower() or "open"
if MLSERVE_REGISTRATION not in ("open", "invite", "closed"):
    raise ImproperlyConfigured(f"MLSERVE_REGISTRATION must be open, invite or closed, got {MLSERVE_REGISTRATION!r}")
MLSERVE_INVITE_DAYS = envint("MLSERVE_INVITE_DAYS", 7)
LOGIN_URL = "accounts:login"
# After logging in: the Dashboard, the one page that says how everything is doing.
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The language comes from the switcher's cookie, else the browser's Accept-Language, else English.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["mlserve.formats"]  # Chinese numbers with thousands separators (mlserve/formats/zh_Hans)
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the switcher's choice outlives the browser session
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = MLSERVE_DATA_DIR / "media"


def storage_backend(url: str) -> dict:
    """STORAGES["default"] for MLSERVE_STORAGE_URL: the data dir, or s3://bucket/prefix through
    django-storages (boto3 reads the credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, or the machine's role)."""
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ImproperlyConfigured(f"MLSERVE_STORAGE_URL must be s3://bucket/prefix (or empty for the data dir), got {url!r}")
    # Our names are content hashes and task ids: overwritten never renamed, never public.
    options = {"bucket_name": parts.netloc, "location": parts.path.strip("/"), "file_overwrite": True, "default_acl": None}
    endpoint = envstr("AWS_ENDPOINT_URL_S3") or envstr("AWS_ENDPOINT_URL")
    if endpoint:  # MinIO, Ceph RGW, GCS in S3 mode...
        options["endpoint_url"] = endpoint
    region = envstr("AWS_REGION") or envstr("AWS_DEFAULT_REGION")
    if region:
        options["region_name"] = region
    if envstr("AWS_S3_ADDRESSING_STYLE"):
        options["addressing_style"] = envstr("AWS_S3_ADDRESSING_STYLE")
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


# Model artifacts, task inputs and results: the data dir, or an S3-compatible store shared by every node.
MLSERVE_STORAGE_URL = envstr("MLSERVE_STORAGE_URL").strip()
# With a store, each node keeps the artifacts its runners load in a local cache of this size.
MLSERVE_ARTIFACT_CACHE_MB = envint("MLSERVE_ARTIFACT_CACHE_MB", 10240)
STORAGES = {
    "default": storage_backend(MLSERVE_STORAGE_URL),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Content-Security-Policy on every response (django-csp): the pages use our own and vendored
# files only, so no inline script or style, no eval, no other origin; nobody may frame them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Bootstrap's icons are data: SVGs in its CSS
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Uploads: files over 2.5 MB spill to disk (under the data dir), never whole into memory.
MLSERVE_MAX_UPLOAD_SIZE = envint("MLSERVE_MAX_UPLOAD_SIZE", 200 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = str(MLSERVE_DATA_DIR / "tmp")
os.makedirs(FILE_UPLOAD_TEMP_DIR, exist_ok=True)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MLSERVE_MAX_JSON_BODY_SIZE", 20 * 1024 * 1024)

# Prediction inputs: rows per synchronous request, and what a ZIP or an image may hold.
MLSERVE_MAX_ROWS_PER_REQUEST = envint("MLSERVE_MAX_ROWS_PER_REQUEST", 100_000)
MLSERVE_ZIP_MAX_MEMBERS = envint("MLSERVE_ZIP_MAX_MEMBERS", 10_000)
MLSERVE_ZIP_MAX_BYTES = envint("MLSERVE_ZIP_MAX_BYTES", 512 * 1024 * 1024)
MLSERVE_MAX_IMAGE_PIXELS = envint("MLSERVE_MAX_IMAGE_PIXELS", 40_000_000)
# Videos sent to image models: decoded here, bounded before and while decoding (413 beyond).
MLSERVE_VIDEO_MAX_SECONDS = envint("MLSERVE_VIDEO_MAX_SECONDS", 600)
MLSERVE_VIDEO_MAX_PIXELS = envint("MLSERVE_VIDEO_MAX_PIXELS", 1920 * 1080)
MLSERVE_VIDEO_MAX_FRAMES = envint("MLSERVE_VIDEO_MAX_FRAMES", 300)
# Frames sampled per second when a request does not say (?fps= or ?every_n_frames=).
MLSERVE_VIDEO_DEFAULT_FPS = envint("MLSERVE_VIDEO_DEFAULT_FPS", 1)

# Answer token + JSON predict calls in front of Django's stack (deployments/fastpath.py); 0 sends
# them through Django and DRF like every other request (slower; the benchmark measures both).
MLSERVE_FAST_PREDICT = envbool("MLSERVE_FAST_PREDICT", True)

# Token and deployment lookups are cached per process this long (a revoked token or a
# paused deployment takes effect at once on this machine, on every node with REDIS_URL, and
# within this long elsewhere: see core/ttl_cache.py).
MLSERVE_AUTH_CACHE_SECONDS = envint("MLSERVE_AUTH_CACHE_SECONDS", 10)
MLSERVE_DEPLOYMENT_CACHE_SECONDS = envint("MLSERVE_DEPLOYMENT_CACHE_SECONDS", 1)

# Threads each ONNX Runtime session may use; 1 suits several web workers per core.
MLSERVE_ONNX_THREADS = envint("MLSERVE_ONNX_THREADS", 1)
MLSERVE_XGBOOST_THREADS = envint("MLSERVE_XGBOOST_THREADS", 1)
MLSERVE_LIGHTGBM_THREADS = envint("MLSERVE_LIGHTGBM_THREADS", 1)
MLSERVE_CATBOOST_THREADS = envint("MLSERVE_CATBOOST_THREADS", 1)
# The JVM that evaluates PMML (PMML4S through pypmml) runs beside each process that needs it.
MLSERVE_JAVA_PATH = envstr("MLSERVE_JAVA_PATH") or None
# PMML4S parses with the JDK's StAX parser, which fetches external DTDs and entities unless these
# JAXP properties forbid every protocol. They always come first, whatever MLSERVE_PMML_JAVA_OPTS says.
PMML_JVM_XML_LOCKDOWN = (
    "-Djavax.xml.accessExternalDTD= -Djavax.xml.accessExternalSchema= -Djavax.xml.accessExternalStylesheet= "
    "-Djdk.xml.entityExpansionLimit=1000"
)
MLSERVE_PMML_JAVA_OPTS = (
    PMML_JVM_XML_LOCKDOWN + " " + envstr("MLSERVE_PMML_JAVA_OPTS", "-Xmx1g -XX:+UseSerialGC -Xshare:auto")
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.credentials.CredentialAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "deployments.permissions.RejectDeploymentKeys",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "models_registry.api.parsers.SafeJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.TokenRateThrottle"],
    # ?format= belongs to our endpoints (task results: json or csv), not to content negotiation.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "mlserve API",
    "DESCRIPTION": "Upload, inspect, test, deploy and call machine-learning models.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "mlserve.openapi.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStatusEnum": "deployments.models.Deployment.Status",
        "TaskStatusEnum": "deployments.models.PredictionTask.Status",
    },
    # The schema and its browsable page need a login, a token or a deployment key (docs/security.md).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Metrics: each process flushes its sums to the database this often; minute buckets are kept this long.
MLSERVE_METRICS_FLUSH_SECONDS = float(envstr("MLSERVE_METRICS_FLUSH_SECONDS", "1") or 1)
# Buckets (deployment x minute) a process holds while its flushes fail; beyond, the oldest are dropped and counted.
MLSERVE_METRICS_MAX_PENDING = envint("MLSERVE_METRICS_MAX_PENDING", 10_000)
MLSERVE_METRICS_RETENTION_DAYS = envint("MLSERVE_METRICS_RETENTION_DAYS", 30)
# /metrics (Prometheus) lists every deployment and owner: it answers this bearer token or a staff
# session, nobody else (not even loopback: a same-host proxy makes everyone loopback), unless
# MLSERVE_METRICS_PUBLIC opens it to every client on purpose.
MLSERVE_METRICS_TOKEN = envsecret("MLSERVE_METRICS_TOKEN")
MLSERVE_METRICS_PUBLIC = envbool("MLSERVE_METRICS_PUBLIC", False)

# Models and scripts run in sandboxed runner processes (models_registry/runners, docs/security.md).
# "bwrap" (bubblewrap, required) or "off" (no sandbox: only when every uploader is trusted).
MLSERVE_SANDBOX = envstr("MLSERVE_SANDBOX", "bwrap")
if MLSERVE_SANDBOX not in ("bwrap", "off"):
    raise ImproperlyConfigured(f"MLSERVE_SANDBOX must be 'bwrap' or 'off', got {MLSERVE_SANDBOX!r}")
MLSERVE_BWRAP = envstr("MLSERVE_BWRAP", "")
# As root, sandboxes start as this user (never root, never mlserve's own user).
MLSERVE_RUNNER_USER = envstr("MLSERVE_RUNNER_USER", "nobody")
# Where the runner supervisor and runners keep their sockets ("" = <data dir>/run).
MLSERVE_RUN_DIR = envstr("MLSERVE_RUN_DIR", "")
# Memory a runner may use for its model when the deployment sets no memory_limit_mb, and at upload.
MLSERVE_RUNNER_MEMORY_MB = envint("MLSERVE_RUNNER_MEMORY_MB", 2048)
MLSERVE_INSPECT_MEMORY_MB = envint("MLSERVE_INSPECT_MEMORY_MB", 2048)
MLSERVE_RUNNER_IDLE_SECONDS = envint("MLSERVE_RUNNER_IDLE_SECONDS", 900)
MLSERVE_RUNNER_GRACE_SECONDS = envint("MLSERVE_RUNNER_GRACE_SECONDS", 15)
MLSERVE_RUNNER_MAX_CRASHES = envint("MLSERVE_RUNNER_MAX_CRASHES", 3)
MLSERVE_RUNNER_START_TIMEOUT = envint("MLSERVE_RUNNER_START_TIMEOUT", 120)
# Seconds between each serving process's checks that running deployments' runners are up (0: none).
MLSERVE_WARM_INTERVAL = float(envstr("MLSERVE_WARM_INTERVAL", "2") or 2)
# For `make bench` only: load models into the web worker, unsandboxed, to measure the runners' cost.
MLSERVE_MODELS_IN_PROCESS = envbool("MLSERVE_MODELS_IN_PROCESS", False)
# A call to a model outside a deployment (the Test tab, upload checks) may take this long.
MLSERVE_RUNNER_CALL_TIMEOUT = envint("MLSERVE_RUNNER_CALL_TIMEOUT", 60)

# Deployment scripts run in their deployment's runner: CPU time per call.
MLSERVE_SCRIPT_TIMEOUT_SECONDS = envint("MLSERVE_SCRIPT_TIMEOUT_SECONDS", 5)
# Scripts are sandboxed like models, so everyone may write one; 1 keeps them to users with upload_code.
MLSERVE_SCRIPTS_NEED_CODE_PERMISSION = envbool("MLSERVE_SCRIPTS_NEED_CODE_PERMISSION", False)

# Queued prediction tasks.
MLSERVE_BATCH_CHUNK_ROWS = envint("MLSERVE_BATCH_CHUNK_ROWS", 10_000)
# A queued task's chunk may take this long in its runner (at least the deployment's timeout).
MLSERVE_TASK_CHUNK_TIMEOUT_SECONDS = envint("MLSERVE_TASK_CHUNK_TIMEOUT_SECONDS", 300)
# A running task whose worker shows no sign of life for this long is queued again.
MLSERVE_TASK_STALL_SECONDS = envint("MLSERVE_TASK_STALL_SECONDS", 120)
MLSERVE_TASK_MAX_ATTEMPTS = envint("MLSERVE_TASK_MAX_ATTEMPTS", 3)
# A worker's hold on a task; renewed by its heartbeat (every third of it). A task whose lease ran out
# (its worker was killed) is queued again by the next recovery round, every MLSERVE_TASK_RECOVER_SECONDS:
# back in the queue within lease + round.
MLSERVE_TASK_LEASE_SECONDS = envint("MLSERVE_TASK_LEASE_SECONDS", 20)
MLSERVE_TASK_RECOVER_SECONDS = envint("MLSERVE_TASK_RECOVER_SECONDS", 10)
# SIGTERM: a worker finishes its task or hands it back within this long, then exits.
MLSERVE_SHUTDOWN_SECONDS = envint("MLSERVE_SHUTDOWN_SECONDS", 10)
MLSERVE_RESULT_RETENTION_HOURS = envint("MLSERVE_RESULT_RETENTION_HOURS", 7 * 24)

Q_CLUSTER = {
    # Installations sharing one Redis need different queue names.
    "name": envstr("MLSERVE_QUEUE_NAME", "mlserve"),
    "workers": envint("MLSERVE_QUEUE_WORKERS", 2),
    "timeout": envint("MLSERVE_TASK_TIMEOUT", 3600),
    # A task whose worker died is handed out again after this many seconds.
    "retry": envint("MLSERVE_TASK_TIMEOUT", 3600) + 60,
    "max_attempts": 3,
    # Prefetch nothing a dead worker could take with it: one message at a time from the broker, at
    # most one waiting in the cluster's memory (leases and recovery bring back anything lost anyway).
    "queue_limit": 1,
    "bulk": 1,
    "catch_up": False,
    "save_limit": 250,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

if MLSERVE_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("MLSERVE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("MLSERVE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"py4j": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
