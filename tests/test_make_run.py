"""`make run` (manage.py serve), as a person uses it: in a terminal, it migrates quietly, prints
where everything is, serves through nginx, and Ctrl-C stops it all with exit code 0 (issue 17,
item 8). A taken port is one clear sentence naming the variable that picks another."""

import os
import pty
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mlserve import front

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_taken_port_says_which_variable_picks_another(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("MLSERVE_BIND", f"127.0.0.1:{port}")
        with pytest.raises(CommandError) as raised:
            call_command("serve")
    message = str(raised.value)
    assert f"Port {port} on 127.0.0.1 is already in use" in message
    assert f"MLSERVE_BIND=127.0.0.1:{port + 1} make run" in message


def test_a_malformed_bind_address_is_named(monkeypatch):
    monkeypatch.setenv("MLSERVE_BIND", "localhost")
    with pytest.raises(CommandError, match="MLSERVE_BIND must be host:port"):
        call_command("serve")


class Terminal:
    """`make run` with a pseudo-terminal as its controlling terminal, as in a shell."""

    def __init__(self, command: list[str], env: dict):
        self.master, slave = pty.openpty()

        def become_terminal_session():
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=become_terminal_session
        )
        os.close(slave)
        self.output = b""

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the terminal's other end is closed
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read(0.3)
            if check():
                return
            if self.process.poll() is not None:  # it ended: what it printed last, then the check once more
                self.read(0.5)
                if check():
                    return
                break
        raise AssertionError(f"no {what}; output:\n{self.text[-4000:]}")

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")  # the terminal turns it into SIGINT for its foreground group

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status
    except (urllib.error.URLError, OSError):
        return None


def still_running(data_dir: Path) -> list[int]:
    """The processes this test started that still run: they carry its own data dir."""
    marker = f"MLSERVE_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def kill_leftovers(data_dir: Path) -> None:
    for pid in still_running(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("with_nginx", [True, False], ids=["behind-nginx", "without-nginx"])
def test_make_run_serves_and_ctrl_c_exits_0(tmp_path, with_nginx):
    if with_nginx and front.nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAKEFLAGS", "MFLAGS")}
    env.update(
        MLSERVE_DATA_DIR=str(data_dir), MLSERVE_BIND=f"127.0.0.1:{port}", MLSERVE_WEB_WORKERS="1",
        MLSERVE_QUEUE_WORKERS="1", TERM="dumb",
    )
    if not with_nginx:
        env["MLSERVE_NGINX"] = "no-such-nginx"  # as on a machine without it
    terminal = Terminal(["make", "--no-print-directory", "run"], env)
    try:
        # The first run may collect the static files (a minute on a small machine); later runs skip it.
        terminal.wait_for(lambda: healthz(port) == 200, 300, "answer from /healthz")
        terminal.wait_for(lambda: "running." in terminal.text, 60, "running qcluster")
        terminal.ctrl_c()
        terminal.wait_for(lambda: terminal.process.poll() is not None, 60, "exit after Ctrl-C")
        terminal.read(0.5)
        output = terminal.text
        assert terminal.process.returncode == 0, output[-4000:]
        assert f"mlserve: http://127.0.0.1:{port}/" in output
        assert f"Data:    {data_dir}" in output and "Admin:" in output
        assert "Applying " not in output  # migrations run quietly
        assert "worker stopped (rc=0)" in output and "web stopped (rc=0)" in output
        assert "SIGKILL" not in output and "Interrupt" not in output and "Error" not in output
        deadline = time.monotonic() + 10
        while still_running(data_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert still_running(data_dir) == []  # nothing left behind (workers, helpers, nginx)
        if with_nginx:
            assert "nginx in front of gunicorn" in output and "front stopped (rc=0)" in output
        else:
            assert "nginx is not installed: gunicorn serves directly" in output and "apt-get install -y nginx" in output
            assert "front" not in output
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
        terminal.process.wait()
        os.close(terminal.master)
        kill_leftovers(data_dir)
