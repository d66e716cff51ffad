"""The cluster test's own machinery: two mlserve nodes on this machine, each with its own
data dir, gunicorn, qcluster and runner supervisor, sharing only PostgreSQL (a fresh
database), Redis (its own db number) and an S3 server (moto) started here, with nginx
(the repo's deploy/nginx.conf) in front of both. Ports 18200-18299 only.

The suite's autouse fixtures (a data dir, queue and cache per test, the runner cleanup)
belong to in-process tests: here every process is started by the cluster fixture."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest
import redis
import urllib3

from mlserve import front

ROOT = Path(__file__).resolve().parents[2]
NGINX_PORT, S3_PORT, NODE_A_PORT, NODE_B_PORT = 18200, 18201, 18210, 18220
BUCKET = "mlserve-cluster"
PG_ADMIN_URL = os.environ.get("CLUSTER_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/14")
STARTUP_SECONDS = 180

http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60), retries=False)


@pytest.fixture(autouse=True)
def isolated_data_dir():
    yield None


@pytest.fixture(autouse=True)
def isolated_queue_and_cache():
    yield


@pytest.fixture(autouse=True)
def fresh_caches():
    yield


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(url: str) -> int | None:
    try:
        return http.request("GET", url, timeout=2).status
    except urllib3.exceptions.HTTPError:
        return None


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    env: dict
    processes: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self, role: str) -> Path:
        return self.data_dir.parent / f"{self.name}-{role}.log"

    def start(self, role: str, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=open(self.log(role), "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a signal reaches qcluster's workers too
        )
        self.processes[role] = process
        return process

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} on node {self.name} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def signal_group(self, role: str, sig: int) -> None:
        os.killpg(self.processes[role].pid, sig)

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.data_dir.parent.glob(f"{self.name}-*.log"))
        )


@dataclass
class Cluster:
    a: Node
    b: Node
    nginx_port: int
    database_url: str
    s3: object  # a boto3 S3 client on the test's server

    def front(self, path: str) -> str:
        return f"http://127.0.0.1:{self.nginx_port}{path}"

    def task_rows_done(self, task_id: str) -> int:
        """The task's progress read from the shared database: a wait that polls every 0.2 s must
        not spend the token's request rate (a slow machine would run it out before the wait ends)."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            row = connection.execute("SELECT rows_done FROM deployments_predictiontask WHERE id = %s", (task_id,)).fetchone()
        return row[0] if row else 0

    def stored_keys(self, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]


def stop(process: subprocess.Popen, grace: float = 15) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGCONT)  # a test may have stopped it
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(check, timeout: float, what: str, nodes=(), interval: float = 0.2) -> None:
    """Polls `check` every `interval` seconds; a check that calls the API with one token should
    poll at 1 s or slower, so a slow machine cannot run it into the token's rate limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(n.logs_tail() for n in nodes))


def _fresh_database() -> str:
    name = f"mlserve_cluster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    admin = urlsplit(PG_ADMIN_URL)
    return admin._replace(path=f"/{name}").geturl()


def _drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flush_redis() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    busy = [p for p in (NGINX_PORT, S3_PORT, NODE_A_PORT, NODE_B_PORT) if not port_is_free(p)]
    assert not busy, f"ports {busy} are taken: the cluster test uses 18200-18299"
    nginx = front.nginx_binary()
    assert nginx, "the cluster test needs nginx (apt-get install -y nginx)"
    root = tmp_path_factory.mktemp("cluster")
    started: list[subprocess.Popen] = []
    database_url = _fresh_database()
    _flush_redis()
    try:
        s3_log = root / "s3.log"
        s3_server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(S3_PORT)],
            stdout=open(s3_log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        started.append(s3_server)
        endpoint = f"http://127.0.0.1:{S3_PORT}"
        aws = {"AWS_ACCESS_KEY_ID": "cluster", "AWS_SECRET_ACCESS_KEY": "cluster-secret", "AWS_DEFAULT_REGION": "us-east-1"}
        wait_until(lambda: answers(endpoint) is not None, 60, "the S3 server")
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"], region_name=aws["AWS_DEFAULT_REGION"])
        s3.create_bucket(Bucket=BUCKET)

        common = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLSERVE_", "DATABASE_URL", "REDIS_URL", "AWS_"))},
            **aws,
            "AWS_ENDPOINT_URL": endpoint,
            "DJANGO_SETTINGS_MODULE": "mlserve.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "MLSERVE_STORAGE_URL": f"s3://{BUCKET}/cluster",
            "SECRET_KEY": "cluster-test-" + uuid.uuid4().hex,  # the same on both nodes
            "MLSERVE_QUEUE_NAME": "mlserve-cluster",
            "MLSERVE_CACHE_PREFIX": "mlserve-cluster",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MLSERVE_WEB_WORKERS": "2",  # two processes per node: "every process" means something
            "MLSERVE_WEB_THREADS": "4",
            "MLSERVE_QUEUE_WORKERS": "1",
            "MLSERVE_WARM_INTERVAL": "2",
            # Long local caches: a change seen at once on the other node comes from the Redis invalidation.
            "MLSERVE_AUTH_CACHE_SECONDS": "60",
            "MLSERVE_DEPLOYMENT_CACHE_SECONDS": "60",
            "MLSERVE_TOKEN_RATE": "120/minute",
            "MLSERVE_BATCH_CHUNK_ROWS": "500",
            "MLSERVE_TASK_STALL_SECONDS": "6",
            "MLSERVE_RUNNER_GRACE_SECONDS": "5",
        }
        nodes = []
        for name, port in (("a", NODE_A_PORT), ("b", NODE_B_PORT)):
            data_dir = root / f"node-{name}"
            data_dir.mkdir()
            env = {**common, "MLSERVE_DATA_DIR": str(data_dir), "MLSERVE_GUNICORN_BIND": f"127.0.0.1:{port}"}
            nodes.append(Node(name=name, port=port, data_dir=data_dir, env=env))
        a, b = nodes
        a.manage("migrate", "--noinput", "-v", "0")
        for node in nodes:
            started.append(node.start("runners", [sys.executable, "manage.py", "runners"]))
            started.append(node.start("web", [sys.executable, "-m", "gunicorn", "mlserve.wsgi", "--config", "mlserve/gunicorn.conf.py"]))
            started.append(node.start("worker", [sys.executable, "manage.py", "qcluster"]))
        config = front.write_nginx_conf(
            listen=f"127.0.0.1:{NGINX_PORT}", upstreams=[f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], directory=root / "nginx"
        )
        nginx_log = root / "nginx.log"
        started.append(subprocess.Popen(
            [nginx, "-e", "stderr", "-p", str(config.parent), "-c", str(config)],
            stdout=open(nginx_log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        for url in (a.url("/healthz"), b.url("/healthz"), f"http://127.0.0.1:{NGINX_PORT}/healthz"):
            wait_until(lambda url=url: answers(url) == 200, STARTUP_SECONDS, url, nodes)
        yield Cluster(a=a, b=b, nginx_port=NGINX_PORT, database_url=database_url, s3=s3)
    finally:
        for process in reversed(started):
            stop(process)
        _drop_database(database_url)
        _flush_redis()
