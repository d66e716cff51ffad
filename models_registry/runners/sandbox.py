"""The bubblewrap command lines that start the zygote and single runners.

What a runner can see: /usr (the system's libraries and, for PMML, the JVM), the
interpreter, the virtualenv, the two code packages it needs (models_registry, core)
read-only under /app, an empty /tmp, a /dev with null/zero/random, and /proc of its
own PID namespace. What it cannot: the data directory (database, secret key, every
other artifact), the project folder's other files, any network (not even loopback),
any process outside its namespace, the environment of mlserve (it starts empty).

As root, mlserve starts the sandbox as an unprivileged user (MLSERVE_RUNNER_USER,
"nobody"), so a runner is neither root nor the server's user on the host. That user
often cannot reach the interpreter (pyenv under /root): the supervisor, in a mount
namespace of its own, first binds every such folder where that user can read it.
"""

import ctypes
import glob
import os
import pwd
import shutil
import sys
from pathlib import Path

SANDBOX_ROOT = "/app"
PACKAGES = ("models_registry", "core")
# A runner's environment: nothing of ours; engines kept single-threaded and thread-free at import.
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    # pyarrow (imported by pandas) starts a jemalloc thread unless told not to; the zygote must not have threads.
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
    "ORT_LOGGING_LEVEL": "3",
}
MS_BIND, MS_REC, MS_PRIVATE, MS_RDONLY, MS_REMOUNT = 4096, 16384, 1 << 18, 1, 32


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path(configured: str = "") -> str:
    path = configured or shutil.which("bwrap") or ""
    if not path or not os.access(path, os.X_OK):
        raise SandboxUnavailable(
            "bubblewrap is not installed: mlserve runs every model in a bubblewrap sandbox. "
            "Install it (Debian/Ubuntu: apt-get install bubblewrap), or set MLSERVE_SANDBOX=off "
            "to run models without a sandbox (only if every user who can upload is trusted)."
        )
    return path


def runner_account(name: str | None) -> tuple[int, int] | None:
    """(uid, gid) to start sandboxes as, when mlserve runs as root; None otherwise."""
    if os.geteuid() != 0 or not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxUnavailable(f"MLSERVE_RUNNER_USER {name!r} does not exist on this machine.") from None
    return entry.pw_uid, entry.pw_gid


def _real(path: str) -> str:
    return os.path.realpath(path)


def bind_sources(code_root: str) -> list[tuple[str, str]]:
    """(host path, sandbox path) pairs, read-only."""
    pairs = [("/usr", "/usr")]
    for prefix in {_real(sys.base_prefix), _real(sys.prefix)}:
        if not prefix.startswith("/usr/"):
            pairs.append((prefix, prefix))
    if sys.prefix != _real(sys.prefix) and not sys.prefix.startswith("/usr/"):
        pairs.append((_real(sys.prefix), sys.prefix))  # the venv as it is named, when that is a link
    for package in PACKAGES:
        pairs.append((str(Path(code_root) / package), f"{SANDBOX_ROOT}/{package}"))
    if os.path.exists("/etc/ld.so.cache"):
        pairs.append(("/etc/ld.so.cache", "/etc/ld.so.cache"))
    return pairs


def java_sources() -> list[tuple[str, str]]:
    """What the JVM reads outside /usr (its security settings live under /etc on Debian)."""
    return [(p, p) for p in sorted(glob.glob("/etc/java-*"))]


def _top_level_links() -> list[str]:
    args = []
    for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def command(*, bwrap: str, sources: list[tuple[str, str]], argv: list[str], remap: dict | None = None) -> list[str]:
    """bwrap argv: a fresh root with the sources read-only and nothing else."""
    remap = remap or {}
    args = [
        bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv",
        "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "mlserve-runner",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp",
    ]
    args += _top_level_links()
    for host, inside in sources:
        if inside in ("/bin", "/lib", "/lib64", "/sbin"):
            continue
        args += ["--ro-bind", remap.get(host, host), inside]
    for key, value in ENVIRONMENT.items():
        args += ["--setenv", key, value]
    return args + argv


def python_argv(mode_args: list[str], *, sandboxed: bool, code_root: str, tmp_mb: int) -> list[str]:
    root = SANDBOX_ROOT if sandboxed else code_root
    script = f"{root}/models_registry/runners/zygote.py"
    extra = [] if sandboxed else ["--unsandboxed"]
    return [sys.executable, "-I", "-B", script, "--root", root, "--tmp-mb", str(tmp_mb), *extra, *mode_args]


# ---- root only: make the sources reachable for the runner user ---------------------------


def _reachable(path: str, uid: int, gid: int) -> bool:
    """Can this user walk to path (every folder on the way has x for it)?"""
    current = Path(path)
    for folder in [*reversed(current.parents), current if current.is_dir() else current.parent]:
        try:
            st = folder.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def reachable_sources(sources: list[tuple[str, str]], uid: int, gid: int, workdir: str) -> dict:
    """host path -> a path the runner user can reach, for sources it cannot. Binds them, in
    this process's own mount namespace (the supervisor's: nobody else sees these mounts)."""
    unreachable = [host for host, _ in sources if not _reachable(host, uid, gid)]
    if not unreachable:
        return {}
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise SandboxUnavailable(f"cannot make a mount namespace for the supervisor: {os.strerror(ctypes.get_errno())}")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise SandboxUnavailable(f"cannot make the supervisor's mounts private: {os.strerror(ctypes.get_errno())}")
    os.makedirs(workdir, mode=0o755, exist_ok=True)
    os.chmod(workdir, 0o755)
    remap = {}
    for i, host in enumerate(unreachable):
        target = os.path.join(workdir, f"b{i}")
        if os.path.isdir(host):
            os.makedirs(target, exist_ok=True)
        else:
            Path(target).touch()
        if libc.mount(host.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
            raise SandboxUnavailable(f"cannot bind {host} for the runner user: {os.strerror(ctypes.get_errno())}")
        libc.mount(b"none", target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, None)
        remap[host] = target
    return remap
