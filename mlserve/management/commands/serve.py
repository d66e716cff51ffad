"""What `make run` runs: everything mlserve needs on one machine, in the foreground."""

import errno
import hashlib
import io
import os
import signal
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from honcho.environ import parse_procfile
from honcho.manager import Manager

from mlserve import front

PROCFILE = Path(settings.BASE_DIR) / "Procfile"


def bind_address(bind: str) -> tuple[str, int] | None:
    """(host, port) of MLSERVE_BIND ('127.0.0.1:8000', '[::1]:8000', '0.0.0.0:80'); None for a Unix socket."""
    if bind.startswith("unix:"):
        return None
    host, _, port = bind.rpartition(":")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        raise CommandError(f"MLSERVE_BIND must be host:port (e.g. 127.0.0.1:8000), got {bind!r}.") from None


def check_port_free(bind: str) -> None:
    """A clear sentence now, rather than a traceback from gunicorn or nginx once they start."""
    address = bind_address(bind)
    if address is None:
        return
    host, port = address
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"Port {port} on {host} is already in use (another mlserve, or another program). "
                f"Pick another port with MLSERVE_BIND, e.g.: MLSERVE_BIND={host if ':' not in host else f'[{host}]'}:{port + 1} make run"
            ) from None
        if exc.errno == errno.EACCES:
            raise CommandError(f"No permission to listen on port {port}: use a port above 1023 in MLSERVE_BIND.") from None
        raise CommandError(f"Cannot listen on {bind} (MLSERVE_BIND): {exc.strerror}.") from None


def collect_static_when_changed() -> None:
    """collectstatic compresses every file again each time (a minute or two on a small machine):
    only when the set of static files, their sizes or times changed since the last run."""
    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in sorted(finder.list([]), key=lambda item: item[0]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    stamp = Path(settings.STATIC_ROOT) / ".collected"
    fingerprint = digest.hexdigest()
    if stamp.exists() and stamp.read_text() == fingerprint:
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(fingerprint)


class StopMainProcesses(Manager):
    """honcho's manager, but a stop signal goes to each process itself, not its whole group.

    qcluster's own child processes take SIGTERM as death (django-q2 sets SIG_DFL), and the
    cluster, told to stop while they die under it, hangs until honcho kills it. Told alone,
    it stops them in order and exits 0 in about a second. gunicorn and nginx stop their own
    workers too. The Procfile's lines end in `exec`, so each pid is the program itself.
    Whatever is left after honcho's grace period still gets SIGKILL, group and all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        group_killer = self._procmgr

        class MainProcessOnly:
            @staticmethod
            def terminate(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

            kill = staticmethod(group_killer.kill)

        self._procmgr = MainProcessOnly()

    def return_codes(self) -> dict[str, int | None]:
        return {name: process.get("returncode") for name, process in self._processes.items()}


@contextmanager
def own_terminal_foreground():
    """Ctrl-C in a terminal signals the foreground process group. Under `make run` that holds
    make too, which then reports 'Interrupt' and fails whatever we do. So, when we are in the
    foreground, we take a group of our own and make it the foreground: Ctrl-C reaches only us,
    we stop everything, and make sees a clean exit. The terminal is handed back at the end."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield  # no terminal (CI, a service manager): nothing to do
        return
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp() or os.getpgrp() == os.getpid():
            # In the background: leave the terminal alone. Leading the foreground group already
            # (started from a shell, not from make): Ctrl-C reaches nobody else anyway.
            yield
            return
        os.setpgid(0, 0)
        with _sigttou_ignored():
            os.tcsetpgrp(tty, os.getpgrp())
        try:
            yield
        finally:
            with _sigttou_ignored():
                try:
                    os.tcsetpgrp(tty, previous)
                except OSError:
                    pass  # make's group is gone (make was killed): nothing to hand back to
    finally:
        os.close(tty)


@contextmanager
def _sigttou_ignored():
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTTOU, old)


class Command(BaseCommand):
    help = (
        "What `make run` runs: migrate (quietly), check the port, then serve: nginx on MLSERVE_BIND in front of "
        "gunicorn (or gunicorn alone when nginx is not installed) and the qcluster worker, in the foreground. "
        "Ctrl-C stops everything."
    )

    def handle(self, *args, **options):
        bind = os.environ.get("MLSERVE_BIND", "127.0.0.1:8000")
        check_port_free(bind)
        with own_terminal_foreground():
            try:
                manager = self.prepare(bind)
            except KeyboardInterrupt:
                self.stderr.write("Stopped before mlserve started.")
                sys.exit(1)
            # A closed terminal (SIGHUP) stops everything too, instead of leaving it running.
            signal.signal(signal.SIGHUP, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))
            manager.loop()
        sys.exit(self.exit_code(manager))

    def prepare(self, bind: str) -> "StopMainProcesses":
        """Everything before the processes start: the database, static files, nginx's config."""
        call_command("migrate", interactive=False, verbosity=0)
        collect_static_when_changed()
        admin_note = io.StringIO()
        call_command("ensure_admin", stdout=admin_note)

        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        processes = parse_procfile(PROCFILE.read_text()).processes
        nginx = front.nginx_binary()
        if nginx:
            config = front.write_nginx_conf(listen=bind)
            environment.update(
                MLSERVE_NGINX=nginx, MLSERVE_NGINX_DIR=str(config.parent),
                MLSERVE_GUNICORN_BIND=f"unix:{front.gunicorn_socket()}",
            )
            names = ["front", "web", "worker", "runners"]
        else:
            self.stderr.write(
                "nginx is not installed: gunicorn serves directly, and a few slow clients can block it "
                "(install it: apt-get install -y nginx)."
            )
            environment.pop("MLSERVE_GUNICORN_BIND", None)
            names = ["web", "worker", "runners"]
        self.banner(bind, nginx, admin_note.getvalue().strip())
        manager = StopMainProcesses()
        for name in names:
            manager.add_process(name, processes[name], env=environment, cwd=str(settings.BASE_DIR))
        return manager

    def banner(self, bind: str, nginx: str | None, admin_note: str) -> None:
        url = bind.replace("0.0.0.0", "127.0.0.1") if not bind.startswith("unix:") else bind
        lines = [
            "",
            f"  mlserve: http://{url}/" if not bind.startswith("unix:") else f"  mlserve: {bind}",
            "    " + ("nginx in front of gunicorn" if nginx else "gunicorn alone (no nginx)")
            + ", the background worker and the model runners' supervisor. Ctrl-C stops them all.",
            f"  Data:    {settings.MLSERVE_DATA_DIR} (database, secret key, models, task files; MLSERVE_DATA_DIR)",
            f"  Sign-up: {settings.MLSERVE_REGISTRATION} (MLSERVE_REGISTRATION)",
        ]
        if admin_note:
            lines += ["  Admin:   " + admin_note.splitlines()[0]] + ["           " + line.strip() for line in admin_note.splitlines()[1:]]
        self.stdout.write("\n".join(lines) + "\n")
        self.stdout.flush()

    def exit_code(self, manager: StopMainProcesses) -> int:
        """0 when we were asked to stop (Ctrl-C, SIGTERM) and everything stopped by itself; the
        failing process's code when one ended on its own; 1 when one had to be killed."""
        codes = manager.return_codes()
        stopped_on_request = manager.returncode in (130, 143)
        if not stopped_on_request:
            return manager.returncode or 1
        killed = [name for name, code in codes.items() if code not in (0, -signal.SIGTERM)]
        if killed:
            self.stderr.write(f"Did not stop cleanly: {', '.join(f'{n} ({codes[n]})' for n in killed)}.")
            return 1
        return 0
