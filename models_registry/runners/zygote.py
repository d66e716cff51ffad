"""The processes that start inside bubblewrap: the zygote, and single runners.

    python -I zygote.py --root /app zygote --control-fd 3
    python -I zygote.py --root /app single --fds 3,4,5

The zygote imports every engine once (seconds of imports), then forks one runner per
request from the supervisor. A fork costs milliseconds and shares the engines' pages;
the child walls itself off from the zygote and its siblings (confine.isolate) before it
reads its artifact. The zygote itself never loads a model: it holds nothing a runner
could want. A "single" runner is started by bubblewrap directly, for engines that
need a process tree of their own (PMML's JVM needs a real /proc).

Supervisor <-> zygote, on the control socket (wire.py frames):
    <- {"ready": true, "address_space": bytes}
    -> {"spawn": id} with fds [listener, status, artifact, output]   <- {"spawned": id, "pid": n}
    -> {"kill": id}                                            <- {"exited": id, "status": n}
Exit status: the runner's exit code, or 128 + the signal that ended it.
"""

import argparse
import gc
import importlib
import logging
import os
import selectors
import signal
import socket
import sys

# Engines and the scikit-learn modules that saved models most often reference. Not onnxruntime:
# its import starts a telemetry thread, and a process with threads must not fork (runners
# import it themselves, in 0.2 s).
PRELOAD = (
    "numpy", "scipy.special", "pandas", "sklearn", "sklearn.base", "sklearn.linear_model", "sklearn.ensemble",
    "sklearn.tree", "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing", "sklearn.impute",
    "sklearn.feature_extraction.text", "sklearn.neighbors", "sklearn.svm", "sklearn.naive_bayes",
    "sklearn.neural_network", "sklearn.cluster", "sklearn.decomposition", "skops.io", "joblib", "xgboost",
    "onnx", "lightgbm", "catboost", "pyseccomp",
    "models_registry.runtimes.sklearn", "models_registry.runtimes.xgboost", "models_registry.runtimes.onnx",
    "models_registry.runtimes.lightgbm", "models_registry.runtimes.catboost",
)
log = logging.getLogger("mlserve.zygote")


def _threads() -> list[str]:
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return []
    names = []
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            names.append(task)
    return names


def address_space() -> int:
    """This process's virtual size: a runner's memory budget is counted on top of it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  (a missing engine only disables its format)
            log.warning("zygote: cannot import %s: %s", name, exc)
    # Imported once, kept for good: out of the collector's way, so runners (forked) neither
    # walk these objects in full collections nor copy their pages by touching them.
    gc.collect()
    gc.freeze()
    threads = _threads()
    if len(threads) > 1:
        # Forking a process with threads can deadlock the child: refuse, and say which.
        raise RuntimeError(f"the zygote has threads after importing engines ({', '.join(threads)}); see runners/sandbox.py ENVIRONMENT")


class Zygote:
    def __init__(self, control: socket.socket, sandboxed: bool, tmp_mb: int):
        self.control = control
        self.sandboxed = sandboxed
        self.tmp_mb = tmp_mb
        self.children: dict[int, str] = {}  # pid -> runner id
        self.base = address_space()

    def serve(self) -> None:
        from models_registry.runners import wire

        wire.send(self.control, {"ready": True, "address_space": self.base})
        reaper_r, reaper_w = os.pipe()
        os.set_blocking(reaper_w, False)
        signal.set_wakeup_fd(reaper_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(reaper_r, selectors.EVENT_READ, "reap")
        while True:
            for key, _ in selector.select(timeout=5):
                if key.data == "reap":
                    os.read(reaper_r, 4096)
                else:
                    try:
                        header, _, fds = wire.recv(self.control, max_bytes=1 << 20, with_fds=True)
                    except wire.Closed:
                        self._kill_all()
                        os._exit(0)
                    self._handle(header, fds, wire)
            self._reap(wire)

    def _handle(self, header: dict, fds: list[int], wire) -> None:
        if "spawn" in header and len(fds) == 4:
            rid = str(header["spawn"])
            pid = os.fork()
            if pid == 0:
                self._child(fds)
            for fd in fds:
                os.close(fd)
            self.children[pid] = rid
            wire.send(self.control, {"spawned": rid, "pid": pid})
        elif "kill" in header:
            for pid, rid in list(self.children.items()):
                if rid == header["kill"]:
                    _kill(pid)
        else:
            for fd in fds:
                os.close(fd)

    def _child(self, fds: list[int]) -> None:
        try:
            from models_registry.runners import confine, runner

            self.control.close()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if self.sandboxed:
                confine.isolate(tmp_size_mb=self.tmp_mb, close_in_parent=fds)
            listener = socket.socket(fileno=fds[0])
            status = socket.socket(fileno=fds[1])
            runner.run(listener, status, fds[2], fds[3], sandboxed=self.sandboxed, address_space=self.base)
        finally:
            os._exit(70)

    def _reap(self, wire) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = self.children.pop(pid, None)
            if rid is not None:
                code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                wire.send(self.control, {"exited": rid, "status": code})

    def _kill_all(self) -> None:
        for pid in self.children:
            _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)  # the runner below it gets PDEATHSIG
    except ProcessLookupError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True, help="the folder holding mlserve's packages")
    parser.add_argument("--unsandboxed", action="store_true")
    parser.add_argument("--tmp-mb", type=int, default=64)
    sub = parser.add_subparsers(dest="mode", required=True)
    zygote = sub.add_parser("zygote")
    zygote.add_argument("--control-fd", type=int, required=True)
    single = sub.add_parser("single")
    single.add_argument("--fds", required=True, help="listener,status,artifact,output")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.mode == "zygote":
        preload()
        Zygote(socket.socket(fileno=args.control_fd), sandboxed=not args.unsandboxed, tmp_mb=args.tmp_mb).serve()
        return
    from models_registry.runners import runner

    listener_fd, status_fd, artifact_fd, output_fd = (int(fd) for fd in args.fds.split(","))
    runner.run(
        socket.socket(fileno=listener_fd), socket.socket(fileno=status_fd), artifact_fd, output_fd,
        sandboxed=not args.unsandboxed, address_space=None,
    )


if __name__ == "__main__":
    main()
