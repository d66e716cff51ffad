"""Where a single-row predict spends its time, in one process, without the network.

    .venv/bin/python bench/profile_predict.py [--requests 20000] [--django]

Trains the iris LogisticRegression, deploys it on a throw-away data dir, then sends
the bench's single-row body through mlserve's WSGI application (the fast path, or
Django + DRF with --django) under cProfile, and prints the functions with the most
time of their own (or --sort cumulative) and the calls per second without the profiler."""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(data_dir: str, fast: bool, rows: int = 1):
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mlserve.settings",
            "MLSERVE_DATA_DIR": data_dir,
            "MLSERVE_FAST_PREDICT": "1" if fast else "0",
            "MLSERVE_TOKEN_RATE": "100000000/minute",
        }
    )
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from skops import io as sio

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from accounts.services import token_create
    from deployments.services import deployment_create
    from models_registry.services import model_create

    frame = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    X, y = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=500).fit(X, y)
    user = User.objects.create_user("profiler", password="profiler-pass-123")
    upload = SimpleUploadedFile("iris.skops", sio.dumps(model))
    version = model_create(owner=user, name="iris", upload=upload)
    deployment_create(owner=user, name="iris", model=version.model)
    _, key = token_create(user=user, name="profile")
    data = X.sample(n=rows, replace=True, random_state=0).to_numpy().tolist() if rows > 1 else [X.iloc[0].tolist()]
    body = json.dumps({"dataframe_split": {"columns": list(X.columns), "data": data}}).encode()
    return key, body


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--django", action="store_true", help="profile the Django + DRF path, not the fast path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rows", type=int, default=1, help="rows per request (the bench's large request: 10000)")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args()

    key, body = setup(tempfile.mkdtemp(prefix="mlserve-profile-"), fast=not args.django, rows=args.rows)
    from mlserve.wsgi import application

    def call():
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/deployments/iris/predict",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": f"Bearer {key}",
            "wsgi.input": io.BytesIO(body),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1:8000",
        }
        setup_testing_defaults(environ)
        status = []
        answer = b"".join(application(environ, lambda s, h, *a: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"predict answered {status[0]}: {answer[:300]!r}")

    for _ in range(min(500, args.requests)):  # warm: model loaded, caches filled
        call()
    started = time.perf_counter()
    for _ in range(args.requests):
        call()
    elapsed = time.perf_counter() - started
    print(f"{'Django + DRF' if args.django else 'fast path'}: {args.requests / elapsed:,.0f} calls/s in one process "
          f"({elapsed / args.requests * 1e6:.0f} µs per call), no profiler")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
