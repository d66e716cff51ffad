"""The environment a test gives to the processes it starts (qcluster, recorders): the same
database, data dir, secret key, queue and cache as the test itself."""

import os

from django.conf import settings
from django.db import connection


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra) -> dict:
    from django_q.conf import Conf

    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MLSERVE_DATA_DIR": str(settings.MLSERVE_DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,  # queue messages are signed with it
        "MLSERVE_QUEUE_NAME": Conf.PREFIX,
        "MLSERVE_CACHE_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        "DJANGO_SETTINGS_MODULE": "mlserve.settings",
        **extra,
    }
