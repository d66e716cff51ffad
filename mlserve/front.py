"""nginx in front of gunicorn: the configuration `make run` and production use.

gunicorn's sync workers serve one request at a time, so a client that sends its request
slowly (a Content-Length of 1000, then 6 bytes, then nothing) holds a worker, and a few
such clients hold them all. nginx reads each request whole, within timeouts, before a
worker sees it (deploy/nginx.conf), so slow clients cost it cheap connections instead.
"""

import os
import pwd
import shutil
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

from mlserve.middleware import ENVELOPE_BYTES

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
# Where nginx usually lives; /usr/sbin is not on every user's PATH.
SBIN_PATHS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    """The nginx program, or None when it is not installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_PATHS])
    return shutil.which(os.environ.get("MLSERVE_NGINX", "nginx"), path=search)


def run_dir() -> Path:
    """nginx's pid, temp files and rendered config, and gunicorn's socket: under the data dir,
    which only mlserve's user may enter (so only its nginx reaches the socket)."""
    return Path(settings.MLSERVE_DATA_DIR) / "run"


def gunicorn_socket() -> Path:
    return run_dir() / "gunicorn.sock"


def nginx_context(*, listen: str, upstreams: list[str], directory: Path) -> dict:
    """What deploy/nginx.conf needs, from the settings and the environment of `make run`."""
    limit = settings.MLSERVE_MAX_UPLOAD_SIZE
    web_timeout = int(os.environ.get("MLSERVE_WEB_TIMEOUT", 120))
    return {
        "listen": listen,
        "upstreams": upstreams,
        "run_dir": str(directory),
        # nginx as root would hand its workers to 'nobody', who cannot enter the data dir.
        "user": pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else "",
        "worker_processes": os.environ.get("MLSERVE_NGINX_WORKERS", "auto"),
        "worker_connections": 1024,
        "client_timeout": int(os.environ.get("MLSERVE_CLIENT_TIMEOUT", 10)),
        "send_timeout": 60,
        "keepalive": int(os.environ.get("MLSERVE_KEEPALIVE", 5)),
        "proxy_timeout": web_timeout + 10,
        "max_body_bytes": limit + ENVELOPE_BYTES,
        "max_upload_mb": f"{limit / 1e6:.1f}",
        "access_log": os.environ.get("MLSERVE_ACCESS_LOG") == "1",
        "locations": [("~ ^/(api|v2)/", "@too_large_json"), ("/", "@too_large_page")],
    }


def render_nginx_conf(context: dict) -> str:
    engine = Engine(autoescape=False)
    return engine.from_string(TEMPLATE.read_text()).render(Context(context))


def write_nginx_conf(*, listen: str, upstreams: list[str] | None = None, directory: Path | None = None) -> Path:
    """Render the config into `directory` (run_dir()/nginx by default), with the folders it names."""
    directory = directory or run_dir() / "nginx"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in TEMP_DIRS:
        (directory / name).mkdir(exist_ok=True, mode=0o700)
    upstreams = upstreams or [f"unix:{gunicorn_socket()}"]
    path = directory / "nginx.conf"
    path.write_text(render_nginx_conf(nginx_context(listen=listen, upstreams=upstreams, directory=directory)))
    return path


class ClientAddressFromFront:
    """WSGI: behind our nginx, REMOTE_ADDR is the client's, from the X-Real-IP nginx sets.

    Only for requests that came over the Unix socket (gunicorn leaves REMOTE_ADDR empty
    there), which only nginx can reach: a client talking to gunicorn over TCP cannot choose
    its address by sending the header."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if not environ.get("REMOTE_ADDR") and environ.get("HTTP_X_REAL_IP"):
            environ["REMOTE_ADDR"] = environ["HTTP_X_REAL_IP"]
        return self.app(environ, start_response)
