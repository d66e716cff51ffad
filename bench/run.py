"""mlserve against MLflow's scoring server, MLServer and a bare-WSGI ceiling, on this machine, in one run.

    make bench            (or: .venv/bin/python bench/run.py [--duration 10] [--skip-batch])

Trains three models from scikit-learn's bundled data, serves them with mlserve
(gunicorn with one worker per core, plus qcluster, as `make run` does; models in
sandboxed runners), with mlserve loading the models into its web workers instead
(MLSERVE_MODELS_IN_PROCESS=1, the pre-runner design, for the runners' cost), with
`mlflow models serve` and with MLServer (KServe's Python runtime, stock settings),
loads them with wrk over loopback (single rows, 10,000-row bodies, Open Inference
Protocol tensors), runs a 1,000,000-row CSV through the queued API, and writes the
results into docs/BENCHMARKS.md (between its bench markers) and
docs/benchmarks-chart.png.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PYTHON = ROOT / ".venv" / "bin" / "python"
MLFLOW_VENV = ROOT / "bench" / ".mlflow-venv"
MLFLOW_PINS = ["mlflow==3.17.2", "scikit-learn==1.9.1", "xgboost-cpu==3.2.0", "matplotlib==3.11.2"]
MLSERVER_VENV = ROOT / "bench" / ".mlserver-venv"
# MLServer 1.7.1 needs uvloop below 0.22; mlserver-xgboost pulls xgboost itself (the same version as ours).
MLSERVER_PINS = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "mlserver-xgboost==1.7.1", "uvloop<0.22",
                 "scikit-learn==1.9.1", "xgboost==3.2.0"]
CORES = os.cpu_count() or 2
MODELS = ["iris_logreg", "cancer_xgb", "cancer_forest"]
PORTS = {"mlserve": 8710, "ceiling": 8720, "mlflow": 8730, "mlserver": 8760}  # MLflow: one port per server started
OIP_MODELS = ["iris_logreg", "cancer_xgb"]
# Single row, c=16, mlserve / MLflow in the report before runners (2026-11-26, in-process models).
LAST_REPORT_VS_MLFLOW = {"iris_logreg": 7.4, "cancer_xgb": 7.2, "cancer_forest": 14.6}  # what MLServer serves (its sklearn and xgboost runtimes)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- setup -------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("installing wrk (Debian package)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)


def ensure_venv(venv: Path, pins: list[str], what: str) -> Path:
    """A virtualenv of its own for a server compared against (not a project dependency), built
    once and rebuilt when its pins change."""
    python = venv / "bin" / "python"
    stamp = venv / ".pins"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(pins):
        return python
    log(f"creating {venv.relative_to(ROOT)} ({what} is not a project dependency; cached between runs)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    stamp.write_text("\n".join(pins))
    return python


def ensure_mlflow_venv() -> Path:
    return ensure_venv(MLFLOW_VENV, MLFLOW_PINS, "MLflow")


def ensure_mlserver_venv() -> Path:
    return ensure_venv(MLSERVER_VENV, MLSERVER_PINS, "MLServer")


def mlserver_repository(models: Path) -> Path:
    """MLServer's model repository: one folder per model with its model-settings.json."""
    repo = OUT / "mlserver"
    shutil.rmtree(repo, ignore_errors=True)
    for name, implementation, source in (
        ("iris_logreg", "mlserver_sklearn.SKLearnModel", models / "iris_logreg.joblib"),
        ("cancer_xgb", "mlserver_xgboost.XGBoostModel", models / "cancer_xgb.json"),
    ):
        folder = repo / name
        folder.mkdir(parents=True)
        shutil.copy(source, folder / f"model{source.suffix}")
        settings = {"name": name, "implementation": implementation, "parameters": {"uri": f"./model{source.suffix}"}}
        (folder / "model-settings.json").write_text(json.dumps(settings))
    port = PORTS["mlserver"]
    (repo / "settings.json").write_text(json.dumps({"http_port": port, "grpc_port": port + 1, "metrics_port": port + 2, "host": "127.0.0.1"}))
    return repo


def train(out: Path) -> dict:
    """The three models, from scikit-learn's bundled data, in each server's format."""
    import joblib
    import pandas as pd
    import skops.io as sio
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    out.mkdir(parents=True, exist_ok=True)
    iris = load_iris()
    X_iris = pd.DataFrame(iris.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    cancer = load_breast_cancer()
    X_cancer = pd.DataFrame(cancer.data, columns=[n.replace(" ", "_") for n in cancer.feature_names])

    logreg = LogisticRegression(max_iter=1000).fit(X_iris, iris.target)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_cancer, cancer.target)
    boosted = xgb.XGBClassifier(n_estimators=100, max_depth=4).fit(X_cancer, cancer.target)

    for name, model in (("iris_logreg", logreg), ("cancer_forest", forest)):
        sio.dump(model, out / f"{name}.skops")
        joblib.dump(model, out / f"{name}.joblib")
    boosted.save_model(out / "cancer_xgb.json")
    files = {"iris_logreg": out / "iris_logreg.skops", "cancer_forest": out / "cancer_forest.skops", "cancer_xgb": out / "cancer_xgb.json"}
    frames = {"iris_logreg": X_iris, "cancer_forest": X_cancer, "cancer_xgb": X_cancer}
    return {"files": files, "frames": frames, "logreg": logreg}


def bodies(frames: dict, out: Path) -> dict:
    """JSON request bodies: one row, and 10,000 rows (dataframe_split, which MLflow and mlserve
    read); and the same rows as one Open Inference Protocol FP64 tensor (MLServer and mlserve)."""
    paths = {}
    for name, frame in frames.items():
        for rows, label in ((1, "row"), (10_000, "10k")):
            data = frame.sample(n=rows, replace=True, random_state=0)
            body = {"dataframe_split": {"columns": list(frame.columns), "data": data.to_numpy().tolist()}}
            path = out / f"{name}-{label}.json"
            path.write_text(json.dumps(body))
            paths[(name, label)] = path
            tensor = {"inputs": [{"name": "input-0", "shape": list(data.shape), "datatype": "FP64", "data": data.to_numpy().ravel().tolist()}]}
            path = out / f"{name}-{label}-oip.json"
            path.write_text(json.dumps(tensor))
            paths[(name, f"{label}-oip")] = path
    return paths


# ---- processes ---------------------------------------------------------------------


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def start(command: list[str], env: dict, log_name: str) -> subprocess.Popen:
    handle = open(OUT / f"{log_name}.log", "ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def request(method: str, url: str, token: str | None = None, data: bytes | None = None, content_type: str | None = None):
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Token {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=600) as response:
        return json.loads(response.read() or b"null")


def upload(url: str, token: str, fields: dict, file_path: Path) -> dict:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body = b"".join(parts) + file_path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return request("POST", url, token, body, f"multipart/form-data; boundary={boundary}")


class Mlserve:
    """mlserve as `make run` starts it: migrate, then gunicorn (one worker per core) and qcluster."""

    def __init__(self, data_dir: Path, **env):
        self.data_dir = data_dir
        self.base = f"http://127.0.0.1:{PORTS['mlserve']}"
        # The per-token limit (default 50000/minute, ~830 req/s per process) is raised, not
        # turned off: its counter still runs on every request, so its cost is measured.
        self.env = {
            **os.environ,
            "MLSERVE_DATA_DIR": str(data_dir),
            "MLSERVE_BIND": f"127.0.0.1:{PORTS['mlserve']}",
            "MLSERVE_TOKEN_RATE": "100000000/minute",
            **env,
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)

    def __enter__(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        manage = [str(PYTHON), "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        create = "from accounts.models import User; User.objects.create_user('bench', password='bench-pass-123')"
        subprocess.run([*manage, "shell", "-c", create], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)
        gunicorn = str(ROOT / ".venv" / "bin" / "gunicorn")
        self.web = start([gunicorn, "mlserve.wsgi", "--config", "mlserve/gunicorn.conf.py"], self.env, "mlserve-web")
        self.worker = start([*manage, "qcluster"], self.env, "mlserve-worker")
        wait_http(self.base + "/healthz")
        self.token = request(
            "POST", self.base + "/api/v1/auth/token", None,
            json.dumps({"username": "bench", "password": "bench-pass-123"}).encode(), "application/json",
        )["token"]
        return self

    def deploy(self, name: str, path: Path) -> None:
        upload(self.base + "/api/v1/models", self.token, {"name": name}, path)
        body = {"name": name, "model": name, "max_rows": 1_000_000, "max_concurrency": 64}
        request("POST", self.base + "/api/v1/deployments", self.token, json.dumps(body).encode(), "application/json")

    def __exit__(self, *exc):
        stop(self.web)
        stop(self.worker)


# ---- load --------------------------------------------------------------------------


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, body: Path, token: str | None, concurrency: int, duration: int) -> dict:
    threads = min(concurrency, CORES)
    env = {**os.environ, "WRK_BODY_FILE": str(body), "WRK_TOKEN": token or ""}
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency", "--timeout", "10s",
               "-s", str(ROOT / "bench" / "wrk_post.lua"), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    # "read" socket errors are connection closes after a response (gunicorn sync workers), not failures.
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(socket.group(i)) for i in (1, 3, 4)) if socket else 0)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors, "requests": requests, "raw": output}


def wait_http_post(url: str, body: Path, timeout: float = 120) -> None:
    """MLServer answers health before its models are loaded: wait for a real answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check_answer(url, body, None)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_answer(url: str, body: Path, token: str | None) -> None:
    """One request first: a benchmark of error pages would be worthless."""
    answer = request("POST", url, token, body.read_bytes(), "application/json")
    assert "predictions" in answer or "outputs" in answer, answer


# ---- batch -------------------------------------------------------------------------


def iris_csv(path: Path, rows: int) -> Path:
    import pandas as pd
    from sklearn.datasets import load_iris

    if path.exists():
        return path
    iris = load_iris()
    frame = pd.DataFrame(iris.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    repeated = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).iloc[:rows]
    repeated.to_csv(path, index=False)
    return path


def process_tree(pid: int) -> list[int]:
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(re.search(r"PPid:\s+(\d+)", (entry / "status").read_text()).group(1))
            except (OSError, AttributeError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def rss_mb(pid: int) -> float:
    try:
        return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024
    except (OSError, AttributeError):
        return 0.0


class PeakRss:
    """The largest resident size any one process of the worker tree reaches meanwhile."""

    def __init__(self, root_pid: int):
        self.root_pid, self.peak, self.running = root_pid, 0.0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while self.running:
            for pid in process_tree(self.root_pid):
                self.peak = max(self.peak, rss_mb(pid))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def run_batch(server: Mlserve, csv_path: Path, rows: int) -> dict:
    with PeakRss(server.worker.pid) as peak:
        started = time.perf_counter()
        task = upload(server.base + "/api/v1/deployments/iris_logreg/tasks", server.token, {}, csv_path)
        submitted = time.perf_counter() - started
        while True:
            status = request("GET", task["status_url"], server.token)
            if status["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    assert status["status"] == "succeeded", status
    assert status["progress"]["rows_done"] == rows
    stamps = {k: datetime.fromisoformat(status[k].replace("Z", "+00:00")) for k in ("created", "started", "finished")}
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "peak_rss_mb": peak.peak,
        "upload_s": submitted,
        "queue_wait_s": (stamps["started"] - stamps["created"]).total_seconds(),
        "run_s": (stamps["finished"] - stamps["started"]).total_seconds(),
    }


def in_process_batch(csv_path: Path, model, rows: int) -> dict:
    """The same work without a server: read_csv -> predict_proba -> to_csv."""
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(csv_path)
    proba = model.predict_proba(frame)
    out = frame.assign(prediction=model.classes_[proba.argmax(axis=1)])
    for i, label in enumerate(model.classes_):
        out[f"probability({label})"] = proba[:, i]
    out.to_csv(OUT / "inprocess-result.csv", index=False)
    elapsed = time.perf_counter() - started
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


# ---- report ------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024 / 1024
    return f"{CORES} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}, Python {platform.python_version()}"


def versions() -> str:
    import django
    import sklearn
    import xgboost

    mlflow = subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
                            capture_output=True, text=True).stdout.strip()
    gunicorn = subprocess.run([str(ROOT / ".venv" / "bin" / "gunicorn"), "--version"], capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return (f"mlserve (this commit), Django {django.__version__}, {gunicorn}, scikit-learn {sklearn.__version__}, "
            f"xgboost {xgboost.__version__}, MLflow {mlflow}, {wrk_version}")


def best(rows: list, key) -> dict:
    """Per point, MLflow's better configuration (the ratio is against the stronger baseline)."""
    chosen = {}
    for r in rows:
        k = key(r)
        if k not in chosen or r["rps"] > chosen[k]["rps"]:
            chosen[k] = r
    return chosen


def table(results: dict) -> str:
    single = best(results["single_row"], lambda r: (r["server"], r["model"], r["concurrency"]))
    lines = [
        "| model | concurrency | mlserve req/s | p50 ms | p99 ms | errors | MLflow req/s (workers) | p50 ms | p99 ms | errors | mlserve / MLflow |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        for c in (1, 16):
            m, f = single.get(("mlserve", model, c)), single.get(("mlflow", model, c))
            if not (m and f):
                continue
            lines.append(
                f"| {model} | {c} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']} "
                f"| {f['rps']:.0f} ({f['workers']}) | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['errors']} | **{m['rps'] / f['rps']:.1f}x** |"
            )
    ceiling = {r["concurrency"]: r for r in results["single_row"] if r["server"] == "ceiling"}
    same_math = {r["concurrency"]: r for r in results["single_row"] if r["server"] == "ceiling-shortcut"}
    lines += ["", "| iris_logreg, single row | concurrency | req/s | p50 ms | p99 ms | / bare-WSGI ceiling | / bare WSGI with mlserve's model math |",
              "|---|---|---|---|---|---|---|"]
    for c, r in sorted(ceiling.items()):
        s = same_math.get(c)
        rows = [("bare-WSGI ceiling (scikit-learn's predict_proba)", r)]
        rows += [("bare WSGI with mlserve's LogisticRegression math", s)] if s else []
        rows += [(label, single.get((server, "iris_logreg", c)))
                 for server, label in (("mlserve", "mlserve (fast path)"), ("mlserve-drf", "mlserve through Django + DRF"))]
        for label, m in rows:
            if m:
                versus_same = f"**{m['rps'] / s['rps']:.2f}x**" if s else ""
                lines.append(f"| {label} | {c} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | **{m['rps'] / r['rps']:.2f}x** | {versus_same} |")
    inproc = {(r["model"], r["concurrency"]): r for r in results["single_row"] if r["server"] == "mlserve-inprocess"}
    if inproc:
        lines += ["", "| single row, models in runners vs in the web workers | concurrency | runners req/s | p50 ms | in-process req/s | p50 ms | runners / in-process |",
                  "|---|---|---|---|---|---|---|"]
        for model in MODELS:
            for c in (1, 16):
                m, i = single.get(("mlserve", model, c)), inproc.get((model, c))
                if m and i:
                    lines.append(f"| {model} | {c} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {i['rps']:.0f} | {i['p50_ms']:.2f} | **{m['rps'] / i['rps']:.2f}x** |")
    lines += ["", "| 10,000-row request (`dataframe_split`, c=1) | mlserve rows/s | p50 ms | p99 ms | p99 / p50 | MLflow rows/s (workers) | p50 ms | mlserve / MLflow |",
              "|---|---|---|---|---|---|---|---|"]
    big = best(results["ten_thousand"], lambda r: (r["server"], r["model"]))
    for model in MODELS:
        m, f = big.get(("mlserve", model)), big.get(("mlflow", model))
        if m and f:
            lines.append(
                f"| {model} | {m['rps'] * 10_000:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['p99_ms'] / m['p50_ms']:.2f} "
                f"| {f['rps'] * 10_000:,.0f} ({f['workers']}) | {f['p50_ms']:.1f} | **{m['rps'] / f['rps']:.1f}x** |"
            )
    oip = {(r["server"], r["model"], r["rows"], r["concurrency"]): r for r in results.get("oip", [])}
    if oip:
        lines += ["", "| Open Inference Protocol, FP64 tensor | rows | concurrency | mlserve req/s | p50 ms | p99 ms | MLServer req/s | p50 ms | p99 ms | mlserve / MLServer |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for model in OIP_MODELS:
            for rows, c in ((1, 16), (10_000, 1)):
                m, v = oip.get(("mlserve", model, rows, c)), oip.get(("mlserver", model, rows, c))
                if m and v:
                    lines.append(f"| {model} | {rows:,} | {c} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {v['rps']:.0f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | **{m['rps'] / v['rps']:.2f}x** |")
    lines += ["", *targets(results)]
    if results.get("batch"):
        base = results["inprocess"]
        lines += ["", "| queued CSV (iris_logreg) | rows | seconds, submit to result (upload / queue / run) | rows/s | worker peak RSS MB | / in-process rows/s |",
                  "|---|---|---|---|---|---|"]
        for b in results["batch"]:
            ratio = f"**{b['rows_per_s'] / base['rows_per_s']:.2f}x**" if b["rows"] == base["rows"] else ""
            parts = f"{b['upload_s']:.2f} / {b['queue_wait_s']:.2f} / {b['run_s']:.2f}"
            lines.append(f"| | {b['rows']:,} | {b['seconds']:.2f} ({parts}) | {b['rows_per_s']:,.0f} | {b['peak_rss_mb']:.0f} | {ratio} |")
        lines.append(f"| in-process read_csv → predict_proba → to_csv | {base['rows']:,} | {base['seconds']:.2f} | {base['rows_per_s']:,.0f} | | |")
        first, last = results["batch"][1], results["batch"][-1]
        lines.append(f"\nWorker peak RSS from {first['rows']:,} to {last['rows']:,} rows: **{last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x**.")
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """The issues' targets, each with what this run measured."""
    single = best(results["single_row"], lambda r: (r["server"], r["model"], r["concurrency"]))
    big = best(results["ten_thousand"], lambda r: (r["server"], r["model"]))
    oip = {(r["server"], r["model"], r["rows"], r["concurrency"]): r for r in results.get("oip", [])}
    rows = []

    def check(target: str, value: float | None, goal: float, unit: str = "x", at_most: bool = False) -> None:
        if value is None:
            rows.append(f"| {target} | not measured | |")
            return
        met = value <= goal if at_most else value >= goal
        rows.append(f"| {target} | {value:.2f}{unit} | {'met' if met else '**missed**'} |")

    def ratio(a, b, key="rps"):
        return a[key] / b[key] if a and b else None

    for model in MODELS:
        check(f"{model}, single row c=16, runners ≥ 0.8x in-process",
              ratio(single.get(("mlserve", model, 16)), single.get(("mlserve-inprocess", model, 16))), 0.8)
    lr = single.get(("mlserve", "iris_logreg", 1))
    check("iris_logreg p50 at c=1 ≤ 0.8 ms", lr["p50_ms"] if lr else None, 0.8, " ms", at_most=True)
    check("cancer_forest c=16 with batching ≥ 2x in-process",
          ratio(single.get(("mlserve", "cancer_forest", 16)), single.get(("mlserve-inprocess", "cancer_forest", 16))), 2.0)
    for model in OIP_MODELS:
        check(f"{model}, 10,000 rows c=1, ≥ 3x MLflow (dataframe_split)", ratio(big.get(("mlserve", model)), big.get(("mlflow", model))), 3.0)
        check(f"{model}, 10,000 rows c=1, ≥ 1.5x MLServer (OIP tensor)",
              ratio(oip.get(("mlserve", model, 10_000, 1)), oip.get(("mlserver", model, 10_000, 1))), 1.5)
        for label, run in (("dataframe_split", big.get(("mlserve", model))), ("OIP", oip.get(("mlserve", model, 10_000, 1)))):
            check(f"{model}, 10,000 rows ({label}): p99 ≤ 2x p50", ratio(run, run, "p99_ms") and run["p99_ms"] / run["p50_ms"], 2.0, at_most=True)
        check(f"{model}, OIP single row c=16 ≥ 0.9x native predict",
              ratio(oip.get(("mlserve", model, 1, 16)), single.get(("mlserve", model, 16))), 0.9)
        check(f"{model}, OIP single row c=16 ≥ 3x MLServer",
              ratio(oip.get(("mlserve", model, 1, 16)), oip.get(("mlserver", model, 1, 16))), 3.0)
    for model, before in LAST_REPORT_VS_MLFLOW.items():
        check(f"{model}, single row c=16 vs MLflow ≥ the last report's {before}x (no regression)",
              ratio(single.get(("mlserve", model, 16)), single.get(("mlflow", model, 16))), before)
    return ["| target | this run | |", "|---|---|---|", *rows]


def write_report(results: dict, text: str) -> None:
    doc = ROOT / "docs" / "BENCHMARKS.md"
    block = (
        "<!-- bench:start -->\n"
        f"Run: {results['date']} · `make bench` (wrk {results['duration']} s per point, loopback)\n\n"
        f"Machine: {results['machine']}\n\nVersions: {results['versions']}\n\n{text}\n\n"
        "![requests per second](benchmarks-chart.png)\n"
        "<!-- bench:end -->"
    )
    current = doc.read_text() if doc.exists() else "# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n"
    updated = re.sub(r"<!-- bench:start -->.*<!-- bench:end -->", lambda _: block, current, flags=re.S)
    doc.write_text(updated)


# ---- main --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per point")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--only", choices=["mlserve", "mlflow", "mlserver", "ceiling"], help="measure one server (no report)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    mlflow_python = ensure_mlflow_venv() if args.only in (None, "mlflow") else None
    if args.only in (None, "mlserver"):
        ensure_mlserver_venv()
    trained = train(OUT / "models")
    body = bodies(trained["frames"], OUT)
    results = {"single_row": [], "ten_thousand": [], "oip": [], "batch": [], "duration": args.duration,
               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}

    if args.only in (None, "mlserve"):
        with Mlserve(OUT / "mlserve-data") as server:
            for name in MODELS:
                server.deploy(name, trained["files"][name])
            time.sleep(3)  # every web worker starts running deployments' runners within MLSERVE_WARM_INTERVAL (2 s)
            for name in MODELS:
                url = f"{server.base}/api/v1/deployments/{name}/predict"
                check_answer(url, body[(name, "row")], server.token)
                for c in (1, 16):
                    r = wrk(url, body[(name, "row")], server.token, c, args.duration)
                    results["single_row"].append({"server": "mlserve", "model": name, "concurrency": c, **r})
                    log(f"mlserve {name} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, errors {r['errors']}")
                r = wrk(url, body[(name, "10k")], server.token, 1, args.duration)
                results["ten_thousand"].append({"server": "mlserve", "model": name, **r})
                log(f"mlserve {name} 10k rows: {r['rps'] * 10000:,.0f} rows/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
            for name in OIP_MODELS:
                url = f"{server.base}/v2/models/{name}/infer"
                check_answer(url, body[(name, "row-oip")], server.token)
                for label, c in (("row-oip", 16), ("10k-oip", 1)):
                    r = wrk(url, body[(name, label)], server.token, c, args.duration)
                    results["oip"].append({"server": "mlserve", "model": name, "rows": 1 if label == "row-oip" else 10_000, "concurrency": c, **r})
                    log(f"mlserve OIP {name} {label} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
            if not args.skip_batch:
                for rows in (100_000, 1_000_000, 5_000_000):
                    b = run_batch(server, iris_csv(OUT / f"iris-{rows}.csv", rows), rows)
                    results["batch"].append(b)
                    log(f"batch {rows:,} rows: {b['rows_per_s']:,.0f} rows/s, worker peak RSS {b['peak_rss_mb']:.0f} MB")
        if not args.skip_batch:
            results["inprocess"] = in_process_batch(OUT / "iris-1000000.csv", trained["logreg"], 1_000_000)
            log(f"in-process 1M rows: {results['inprocess']['rows_per_s']:,.0f} rows/s")
        # The design before runners, for what the process boundary costs (and what batching gains):
        # models loaded in the web workers themselves, sync workers, as mlserve served until then.
        with Mlserve(OUT / "mlserve-data-inprocess", MLSERVE_MODELS_IN_PROCESS="1", MLSERVE_WORKER_CLASS="sync") as server:
            for name in MODELS:
                server.deploy(name, trained["files"][name])
            time.sleep(3)
            for name in MODELS:
                url = f"{server.base}/api/v1/deployments/{name}/predict"
                check_answer(url, body[(name, "row")], server.token)
                for c in (1, 16):
                    r = wrk(url, body[(name, "row")], server.token, c, args.duration)
                    results["single_row"].append({"server": "mlserve-inprocess", "model": name, "concurrency": c, **r})
                    log(f"mlserve in-process {name} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms")

    if args.only in (None, "mlserver"):
        mlserver = start([str(ensure_mlserver_venv().parent / "mlserver"), "start", str(mlserver_repository(OUT / "models"))],
                         {**os.environ, "PATH": f"{MLSERVER_VENV / 'bin'}:{os.environ['PATH']}"}, "mlserver")
        try:
            base = f"http://127.0.0.1:{PORTS['mlserver']}"
            wait_http(base + "/v2/health/ready")
            for name in OIP_MODELS:
                url = f"{base}/v2/models/{name}/infer"
                wait_http_post(url, body[(name, "row-oip")])
                for label, c in (("row-oip", 1), ("row-oip", 16), ("10k-oip", 1)):
                    r = wrk(url, body[(name, label)], None, c, args.duration)
                    results["oip"].append({"server": "mlserver", "model": name, "rows": 1 if label == "row-oip" else 10_000, "concurrency": c, **r})
                    log(f"MLServer {name} {label} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
        finally:
            stop(mlserver)

    if args.only is None:
        # What the framework layers cost: the same call through Django's middleware and DRF.
        with Mlserve(OUT / "mlserve-data-layers", MLSERVE_FAST_PREDICT="0") as server:
            server.deploy("iris_logreg", trained["files"]["iris_logreg"])
            time.sleep(3)
            url = f"{server.base}/api/v1/deployments/iris_logreg/predict"
            check_answer(url, body[("iris_logreg", "row")], server.token)
            for c in (1, 16):
                r = wrk(url, body[("iris_logreg", "row")], server.token, c, args.duration)
                results["single_row"].append({"server": "mlserve-drf", "model": "iris_logreg", "concurrency": c, **r})
                log(f"mlserve through Django+DRF c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms")

    if args.only in (None, "ceiling"):
        # scikit-learn's predict_proba (the ceiling), then mlserve's own LogisticRegression math.
        for server, shortcut in (("ceiling", "0"), ("ceiling-shortcut", "1")):
            env = {**os.environ, "MODEL_PATH": str(OUT / "models" / "iris_logreg.joblib"), "CEILING_SHORTCUT": shortcut,
                   "MLSERVE_BIND": f"127.0.0.1:{PORTS['ceiling']}"}
            ceiling = start([str(ROOT / ".venv" / "bin" / "gunicorn"), "bench.ceiling_app:application", "--config", "mlserve/gunicorn.conf.py"],
                            env, server)
            try:
                url = f"http://127.0.0.1:{PORTS['ceiling']}/"
                wait_http(url)
                check_answer(url, body[("iris_logreg", "row")], None)
                for c in (1, 16):
                    r = wrk(url, body[("iris_logreg", "row")], None, c, args.duration)
                    results["single_row"].append({"server": server, "model": "iris_logreg", "concurrency": c, **r})
                    log(f"{server} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms")
            finally:
                stop(ceiling)

    if args.only in (None, "mlflow"):
        subprocess.run([str(mlflow_python), str(ROOT / "bench" / "mlflow_save.py"), str(OUT / "models")], check=True)
        # As many workers as mlserve has; and one, which this machine serves better (see BENCHMARKS.md).
        port = PORTS["mlflow"]
        for workers in sorted({CORES, 1}, reverse=True):
            for name in MODELS:
                port += 1
                server = start(
                    [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(OUT / "models" / f"mlflow-{name}"),
                     "-h", "127.0.0.1", "-p", str(port), "-w", str(workers), "--env-manager", "local"],
                    {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}"}, f"mlflow-{name}-w{workers}",
                )
                try:
                    url = f"http://127.0.0.1:{port}/invocations"
                    wait_http(f"http://127.0.0.1:{port}/ping")
                    check_answer(url, body[(name, "row")], None)
                    for c in (1, 16):
                        r = wrk(url, body[(name, "row")], None, c, args.duration)
                        results["single_row"].append({"server": "mlflow", "workers": workers, "model": name, "concurrency": c, **r})
                        log(f"mlflow -w {workers} {name} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, errors {r['errors']}")
                    r = wrk(url, body[(name, "10k")], None, 1, args.duration)
                    results["ten_thousand"].append({"server": "mlflow", "workers": workers, "model": name, **r})
                    log(f"mlflow -w {workers} {name} 10k rows: {r['rps'] * 10000:,.0f} rows/s")
                finally:
                    stop(server)

    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if args.only:
        return
    results["versions"] = versions()
    text = table(results)
    print("\n" + text + "\n")
    subprocess.run([str(mlflow_python), str(ROOT / "bench" / "chart.py"), str(OUT / "results.json"),
                    str(ROOT / "docs" / "benchmarks-chart.png")], check=True)
    write_report(results, text)
    log("docs/BENCHMARKS.md and docs/benchmarks-chart.png updated")


if __name__ == "__main__":
    main()
