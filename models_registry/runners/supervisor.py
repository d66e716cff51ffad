"""The runner supervisor: one process per machine that starts, watches and stops runners.

Web workers, queue workers and management commands are its clients. They connect to
``<run dir>/supervisor.sock`` (starting the supervisor if nobody answers: see
client.py) and ask for runners by key: "the runner of deployment 7 at version
sha..., 2 replicas", sending the artifact as an open file descriptor. The supervisor
spawns them (forked from the zygote, or started by bubblewrap for PMML), waits until
each has loaded its model, and answers with their socket paths; clients then call
the runners directly. It needs no database and no Django: whatever a client asks, it
can only start runners in the sandbox on files the client could open.

It restarts nothing on its own: the next ensure() after a crash starts the replica
again, and N crashes in a row (none after a minute or more of running) mark the key
failed until a client resets it (starting the deployment again). Runners nobody has
asked for in MLSERVE_RUNNER_IDLE_SECONDS are stopped. Started by a client, the
supervisor exits a few seconds after its last client has gone, and takes every
runner with it (bubblewrap's --die-with-parent).

Client <-> supervisor (wire.py frames on the control socket):
    ensure {key, spec, replicas, reset} + artifact fd -> {sockets, info, script} | {error, status, failed}
    why {socket}                                      -> {error, status, failed}   (after a call broke)
    kill {socket, reason}                             -> {ok}                       (a call ran too long)
    stop {keys | prefix}, touch {keys}, status        -> {ok} | {groups}
"""

import argparse
import collections
import concurrent.futures
import fcntl
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("mlserve.runners")
SINGLE_FORMATS = {"pmml"}  # their engine starts a process (the JVM) and needs a real /proc
SIGNALS = {
    4: "an illegal instruction (SIGILL)",
    6: "an abort (SIGABRT) inside the engine",
    7: "a bus error (SIGBUS)",
    8: "an arithmetic fault (SIGFPE)",
    9: "SIGKILL (out of memory, or stopped)",
    11: "a segmentation fault (SIGSEGV) inside the engine",
    31: "a forbidden system call (SIGSYS)",
}
OUTPUT_TAIL = 4096


def describe_exit(status: int | None) -> str:
    if status is None:
        return "ended"
    if status > 128:
        return f"was ended by {SIGNALS.get(status - 128, f'signal {status - 128}')}"
    return f"exited with code {status}"


@dataclass
class Replica:
    rid: str
    path: str
    status: socket.socket
    output: socket.socket
    proc: subprocess.Popen | None = None  # single runners only; zygote children are the zygote's
    state: str = "starting"  # starting, ready, dead
    exit_status: int | None = None
    killed_for: str = ""  # why we ended it ourselves (timeout, idle, stop)
    dead_since: float = 0.0
    ready_since: float = 0.0
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_TAIL))
    ended: threading.Event = field(default_factory=threading.Event)

    def output_tail(self) -> str:
        text = bytes(self.tail).decode("utf-8", errors="replace").strip()
        return text[-600:]


@dataclass
class Group:
    key: str
    spec: dict
    replicas: list
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    crashes: int = 0
    failure: dict | None = None  # the last cause, once the key is failed
    info: dict | None = None
    script: list | None = None


class LoadFailed(Exception):
    def __init__(self, reply: dict):
        super().__init__(reply["error"]["message"])
        self.reply = reply


class Supervisor:
    def __init__(self, config: dict):
        self.config = config
        self.run_dir = Path(config["run_dir"])
        self.sandboxed = config.get("sandbox", True)
        self.groups: dict[str, Group] = {}
        self.groups_lock = threading.Lock()
        self.replicas: dict[str, Replica] = {}  # rid -> replica
        self.by_path: dict[str, Replica] = {}
        self.clients = 0
        self.last_client = time.monotonic()
        self.counter = 0
        self.selector = selectors.DefaultSelector()
        self.selector_lock = threading.Lock()
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        self.zygote = None
        self.zygote_ctl = None
        self.zygote_ready = threading.Event()
        self.zygote_lock = threading.Lock()
        self.zygote_base = 0
        self.account = None
        self.remap: dict = {}
        self.stopping = False
        # Processes are started from this one long-lived thread: bubblewrap's --die-with-parent
        # (PR_SET_PDEATHSIG) fires when the *thread* that started it ends, not the process.
        self.spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")

    # ---- start ------------------------------------------------------------------------

    def start(self) -> None:
        from models_registry.runners import sandbox

        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        self.lock_file = open(self.run_dir / "supervisor.lock", "w")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("another supervisor is running for this run dir") from None
        if self.sandboxed:
            self.bwrap = sandbox.bwrap_path(self.config.get("bwrap", ""))
            self.account = sandbox.runner_account(self.config.get("runner_user"))
            self.sources = sandbox.bind_sources(self.config["code_root"])
            if self.account:
                self.bind_dir = tempfile.mkdtemp(prefix="mlserve-binds-", dir="/run" if os.path.isdir("/run") else None)
                self.remap = sandbox.reachable_sources(self.sources + sandbox.java_sources(), *self.account, self.bind_dir)
        self._start_zygote()
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, None)
        threading.Thread(target=self._watch, name="watch", daemon=True).start()
        threading.Thread(target=self._housekeeping, name="housekeeping", daemon=True).start()
        path = self.run_dir / "supervisor.sock"
        path.unlink(missing_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        os.chmod(path, 0o600)
        self.server.listen(128)
        log.info("runner supervisor ready in %s (sandbox: %s)", self.run_dir, "bubblewrap" if self.sandboxed else "OFF")

    def _popen(self, argv: list[str], fds: list[int], stderr=None) -> subprocess.Popen:
        from models_registry.runners import sandbox

        if self.sandboxed:
            sources = self.sources + (sandbox.java_sources() if "single" in argv else [])
            argv = sandbox.command(bwrap=self.bwrap, sources=sources, argv=argv, remap=self.remap)
            env = {"PATH": "/usr/bin:/bin"}
        else:
            env = dict(sandbox.ENVIRONMENT)
        identity = {"user": self.account[0], "group": self.account[1], "extra_groups": []} if self.account else {}
        return self.spawner.submit(
            subprocess.Popen, argv, pass_fds=fds, env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            close_fds=True, cwd="/", **identity,
        ).result()

    def _start_zygote(self) -> None:
        from models_registry.runners import sandbox, wire

        parent, child = socket.socketpair()
        argv = sandbox.python_argv(
            ["zygote", "--control-fd", str(child.fileno())], sandboxed=self.sandboxed,
            code_root=self.config["code_root"], tmp_mb=self.config.get("tmp_mb", 64),
        )
        self.zygote = self._popen(argv, [child.fileno()])
        child.close()
        self.zygote_ctl = parent
        header, _ = wire.recv(parent)
        if not header.get("ready"):
            raise RuntimeError(f"the zygote did not start: {header}")
        self.zygote_base = header.get("address_space", 0)
        threading.Thread(target=self._zygote_reader, name="zygote", daemon=True).start()
        log.info("zygote started (pid %s, %.0f MB address space)", self.zygote.pid, self.zygote_base / 1e6)

    def _zygote_reader(self) -> None:
        from models_registry.runners import wire

        while True:
            try:
                header, _ = wire.recv(self.zygote_ctl)
            except (wire.WireError, OSError):
                if not self.stopping:
                    log.error("the zygote ended (%s); runners already started go on, new ones need a new zygote", self.zygote.poll())
                    threading.Thread(target=self._restart_zygote, daemon=True).start()
                return
            if "exited" in header:
                replica = self.replicas.get(header["exited"])
                if replica is not None:
                    replica.exit_status = header.get("status")
                    replica.ended.set()

    def _restart_zygote(self) -> None:
        with self.zygote_lock:
            try:
                self.zygote.kill()
                self.zygote.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._start_zygote()

    # ---- clients ------------------------------------------------------------------------

    def serve_forever(self, persistent: bool) -> None:
        self.server.settimeout(1.0)
        while not self.stopping:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                if not persistent and self.clients == 0 and time.monotonic() - self.last_client > self.config.get("grace_seconds", 10):
                    log.info("no clients for a while: stopping")
                    break
                continue
            conn.settimeout(None)
            with self.groups_lock:
                self.clients += 1
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()
        self.shutdown()

    def _client(self, conn: socket.socket) -> None:
        from models_registry.runners import wire

        try:
            while True:
                try:
                    header, _, fds = wire.recv(conn, max_bytes=64 << 20, with_fds=True)
                except (wire.WireError, OSError):
                    return
                try:
                    reply = self._handle(header, fds)
                except Exception as exc:  # noqa: BLE001  (a bug here must not end the supervisor)
                    log.exception("request %s failed", header.get("op"))
                    reply = {"error": {"code": "runner_unavailable", "message": f"The runner supervisor failed: {exc}"}, "status": 503}
                finally:
                    for fd in fds:
                        os.close(fd)
                try:
                    wire.send(conn, reply)
                except (wire.WireError, OSError):
                    return
        finally:
            conn.close()
            with self.groups_lock:
                self.clients -= 1
                self.last_client = time.monotonic()

    def _handle(self, header: dict, fds: list[int]) -> dict:
        op = header.get("op")
        if op == "ensure":
            if len(fds) != 1:
                return {"error": {"code": "runner_protocol", "message": "ensure needs the artifact's descriptor"}, "status": 500}
            return self.ensure(header["key"], header["spec"], int(header.get("replicas") or 1), fds[0], bool(header.get("reset")))
        if op == "why":
            return self.why(str(header.get("socket")))
        if op == "kill":
            replica = self.by_path.get(str(header.get("socket")))
            if replica is not None:
                self._end(replica, str(header.get("reason") or "stopped"))
            return {"ok": True}
        if op == "stop":
            self.stop(keys=header.get("keys"), prefix=header.get("prefix"))
            return {"ok": True}
        if op == "touch":
            now = time.monotonic()
            for key in header.get("keys") or []:
                group = self.groups.get(key)
                if group is not None:
                    group.last_used = now
            return {"ok": True}
        if op == "status":
            return {"groups": {k: self._group_status(g) for k, g in list(self.groups.items())}, "sandbox": self.sandboxed,
                    "account": self.account}
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        return {"error": {"code": "runner_protocol", "message": f"unknown supervisor call {op!r}"}, "status": 500}

    @staticmethod
    def _group_status(group: Group) -> dict:
        return {
            "replicas": [r.state if r else "none" for r in group.replicas],
            "crashes": group.crashes,
            "failed": group.failure is not None,
            "idle_seconds": round(time.monotonic() - group.last_used, 1),
        }

    # ---- runners ------------------------------------------------------------------------

    def ensure(self, key: str, spec: dict, replicas: int, artifact_fd: int, reset: bool) -> dict:
        with self.groups_lock:
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = Group(key=key, spec=spec, replicas=[])
        with group.lock:
            group.last_used = time.monotonic()
            group.spec = spec
            if reset:
                group.crashes, group.failure = 0, None
            if group.failure is not None:
                return {**group.failure, "failed": True}
            while len(group.replicas) > replicas:  # fewer replicas than before
                extra = group.replicas.pop()
                if extra is not None:
                    self._end(extra, "stopped")
            group.replicas += [None] * (replicas - len(group.replicas))
            try:
                for index, replica in enumerate(group.replicas):
                    if replica is None or replica.state in ("dead", "ending"):
                        group.replicas[index] = self._spawn(group, index, artifact_fd)
            except LoadFailed as exc:
                return self._count_failure(group, {**exc.reply, "loading": True})
            return {
                "sockets": [r.path for r in group.replicas],
                "info": group.info,
                "script": group.script,
            }

    def _count_failure(self, group: Group, reply: dict) -> dict:
        group.crashes += 1
        if group.crashes >= self.config.get("max_crashes", 3):
            group.failure = {**reply, "error": {**reply["error"], "details": {
                **(reply["error"].get("details") or {}), "crashes": group.crashes}}}
            log.warning("runner %s failed %d times in a row: %s", group.key, group.crashes, reply["error"]["message"])
            return {**group.failure, "failed": True}
        return {**reply, "failed": False}

    def _spawn(self, group: Group, index: int, artifact_fd: int) -> Replica:
        from models_registry.runners import wire

        with self.groups_lock:
            self.counter += 1
            rid = f"r{os.getpid()}-{self.counter}"
        path = str(self.run_dir / f"{rid}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(256)
        status, status_child = socket.socketpair()
        output, output_child = socket.socketpair()
        replica = Replica(rid=rid, path=path, status=status, output=output)
        self.replicas[rid] = replica
        self.by_path[path] = replica
        fds = [listener.fileno(), status_child.fileno(), artifact_fd, output_child.fileno()]
        spec = {**group.spec, "id": rid}
        try:
            if spec.get("format") in SINGLE_FORMATS:
                from models_registry.runners import sandbox

                argv = sandbox.python_argv(
                    ["single", "--fds", ",".join(map(str, fds))], sandboxed=self.sandboxed,
                    code_root=self.config["code_root"], tmp_mb=self.config.get("tmp_mb", 64),
                )
                replica.proc = self._popen(argv, fds)
                threading.Thread(target=self._wait_single, args=(replica,), daemon=True).start()
            else:
                with self.zygote_lock:
                    wire.send(self.zygote_ctl, {"spawn": rid}, fds=fds)
        finally:
            listener.close()
            status_child.close()
            output_child.close()
        self._watch_output(replica)
        try:
            wire.send(status, spec)
            status.settimeout(self.config.get("start_timeout", 120))
            header, _ = wire.recv(status)
        except TimeoutError:
            self._end(replica, "timeout")
            raise LoadFailed({"error": {"code": "model_timeout", "message": (
                f"The model did not load within {self.config.get('start_timeout', 120)} s; it was stopped.")}, "status": 504}) from None
        except (wire.WireError, OSError):
            replica.ended.wait(5)
            self._mark_dead(replica)
            raise LoadFailed(self._crash_reply(replica, loading=True)) from None
        if "error" in header:
            replica.ended.wait(5)
            self._mark_dead(replica)
            raise LoadFailed({"error": header["error"], "status": header.get("status", 400)})
        status.settimeout(None)
        replica.state = "ready"
        replica.ready_since = time.monotonic()
        group.info = header.get("info") if header.get("info") is not None else group.info
        group.script = header.get("script")
        with self.selector_lock:
            self.selector.register(status, selectors.EVENT_READ, ("status", replica, group))
        self.wakeup_w.send(b"x")
        return replica

    def _wait_single(self, replica: Replica) -> None:
        code = replica.proc.wait()
        replica.exit_status = 128 - code if code < 0 else code
        replica.ended.set()

    def _watch_output(self, replica: Replica) -> None:
        with self.selector_lock:
            self.selector.register(replica.output, selectors.EVENT_READ, ("output", replica, None))
        self.wakeup_w.send(b"x")

    def _watch(self) -> None:
        """Every runner's status socket (its end is the runner's end) and output."""
        from models_registry.runners import wire

        while True:
            for key, _ in self.selector.select(timeout=1.0):
                if key.data is None:
                    self.wakeup_r.recv(4096)
                    continue
                kind, replica, group = key.data
                if kind == "output":
                    try:
                        data = replica.output.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        replica.tail.extend(data)
                    else:
                        self._unregister(replica.output)
                    continue
                try:
                    header, _ = wire.recv(replica.status, max_bytes=1 << 16)
                except (wire.WireError, OSError):
                    self._unregister(replica.status)
                    threading.Thread(target=self._on_death, args=(replica, group), daemon=True).start()
                    continue

    def _unregister(self, sock: socket.socket) -> None:
        with self.selector_lock:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass

    def _on_death(self, replica: Replica, group: Group) -> None:
        replica.ended.wait(5)
        was_ready = replica.state in ("ready", "ending")
        self._mark_dead(replica)
        if was_ready and replica.killed_for not in ("idle", "stopped", "replaced"):
            with group.lock:
                if time.monotonic() - replica.ready_since > self.config.get("healthy_seconds", 60):
                    group.crashes = 0  # it served for a while: this crash starts a new count
                self._count_failure(group, self._crash_reply(replica, loading=False))
            log.warning("runner %s of %s %s; its last output: %s", replica.rid, group.key, describe_exit(replica.exit_status),
                        replica.output_tail()[-300:] or "(none)")

    def _mark_dead(self, replica: Replica) -> None:
        replica.state = "dead"
        replica.dead_since = time.monotonic()
        try:
            os.unlink(replica.path)
        except OSError:
            pass
        replica.status.close()

    def _crash_reply(self, replica: Replica, loading: bool) -> dict:
        """What a caller is told: the cause in words, and the runner's last output."""
        status = replica.exit_status
        tail = replica.output_tail()
        details = {"exit": describe_exit(status)}
        if tail:
            details["output"] = tail
        if replica.killed_for == "timeout":
            return {"error": {"code": "model_timeout", "message": "The model ran past its time limit and was stopped; it is restarted for the next request.", "details": details}, "status": 504}
        if status == 128 + 9 or "MemoryError" in tail or "bad_alloc" in tail:
            message = "The model ran out of memory" + (" while loading" if loading else "") + \
                " (its runner's memory budget) and was stopped."
            return {"error": {"code": "model_out_of_memory", "message": message, "details": details}, "status": 503}
        when = "while loading" if loading else "while answering"
        message = f"The model's runner {describe_exit(status)} {when}; it is restarted for the next request."
        return {"error": {"code": "model_crashed", "message": message, "details": details}, "status": 502}

    def why(self, path: str) -> dict:
        replica = self.by_path.get(path)
        if replica is None:
            return {"error": {"code": "model_crashed", "message": "The model's runner is gone; it is restarted for the next request."}, "status": 502, "failed": False}
        replica.ended.wait(3)
        group = next((g for g in list(self.groups.values()) if replica in g.replicas), None)
        reply = self._crash_reply(replica, loading=False)
        return {**(group.failure if group and group.failure else reply), "failed": bool(group and group.failure)}

    def _end(self, replica: Replica, reason: str) -> None:
        if replica.state == "dead":
            return
        replica.killed_for = reason
        replica.state = "ending"  # the next ensure starts another at once
        log.info("ending runner %s: %s", replica.rid, reason)
        if replica.proc is not None:
            try:
                replica.proc.kill()
            except OSError:
                pass
        else:
            from models_registry.runners import wire

            with self.zygote_lock:
                try:
                    wire.send(self.zygote_ctl, {"kill": replica.rid})
                except (wire.WireError, OSError):
                    pass

    def stop(self, keys=None, prefix=None) -> None:
        with self.groups_lock:
            chosen = [g for k, g in self.groups.items() if (keys and k in keys) or (prefix and k.startswith(prefix))]
            for group in chosen:
                self.groups.pop(group.key, None)
        for group in chosen:
            for replica in group.replicas:
                if replica is not None:
                    self._end(replica, "stopped")

    def _housekeeping(self) -> None:
        idle = self.config.get("idle_seconds", 600)
        while not self.stopping:
            time.sleep(min(5.0, max(0.5, idle / 4)))
            now = time.monotonic()
            stale = [k for k, g in list(self.groups.items()) if now - g.last_used > idle and not g.lock.locked()]
            if stale:
                log.info("stopping %d idle runner group(s)", len(stale))
                with self.groups_lock:
                    groups = [self.groups.pop(k) for k in stale if k in self.groups]
                for group in groups:
                    for replica in group.replicas:
                        if replica is not None:
                            self._end(replica, "idle")
            for rid, replica in list(self.replicas.items()):
                # The dead are kept a minute, so a client that saw one go can still ask why.
                if replica.state == "dead" and replica.dead_since and now - replica.dead_since > 60:
                    self.replicas.pop(rid, None)
                    if self.by_path.get(replica.path) is replica:
                        self.by_path.pop(replica.path, None)
                    self._unregister(replica.output)
                    replica.output.close()

    def shutdown(self) -> None:
        self.stopping = True
        for replica in list(self.replicas.values()):
            self._end(replica, "stopped")
        try:
            self.zygote.kill()
        except OSError:
            pass
        for replica in list(self.replicas.values()):
            try:
                os.unlink(replica.path)
            except OSError:
                pass
        (self.run_dir / "supervisor.sock").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="mlserve's runner supervisor")
    parser.add_argument("--config", required=True, help="JSON settings (see client.supervisor_config)")
    parser.add_argument("--persistent", action="store_true", help="do not exit when the last client has gone")
    args = parser.parse_args()
    config = json.loads(args.config)
    sys.path.insert(0, config["code_root"])
    logging.basicConfig(level=config.get("log_level", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    supervisor = Supervisor(config)

    def stop_while_starting(signum, frame):
        # Loading the zygote takes seconds on a busy machine: a stop then must not wait for it.
        # Exiting is enough: the sandboxes die with their parent (bwrap --die-with-parent).
        os._exit(0)

    signal.signal(signal.SIGTERM, stop_while_starting)
    signal.signal(signal.SIGINT, stop_while_starting)
    supervisor.start()
    signal.signal(signal.SIGTERM, lambda *_: setattr(supervisor, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(supervisor, "stopping", True))
    supervisor.serve_forever(args.persistent)


if __name__ == "__main__":
    main()
