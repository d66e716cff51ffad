"""What a runner does to itself before it touches its model.

bubblewrap builds the outer sandbox once (no network, no data dir, read-only
interpreter and code, its own user and PID namespaces; see sandbox.py). Runners are
forked inside it from a warm "zygote" that has imported the engines (2-3 s of
imports on a small machine, paid once), so each runner then walls itself off from
its siblings with the same kernel features bubblewrap uses:

- ``isolate()``: its own user, mount, PID, network, IPC and UTS namespaces (it cannot
  see, signal or reach any other runner), an empty /proc and a private /tmp;
- ``lock_down()``: rlimits (address space from the memory budget, file size, no core
  files), not dumpable, no capabilities, no new privileges, and a seccomp filter
  that refuses new processes (threads stay allowed), exec, mount, ptrace and the
  other calls a model never needs.

Linux only; imports nothing of mlserve but the standard library and pyseccomp.
"""

import ctypes
import errno
import os
import platform
import resource
import signal

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_RDONLY = 2, 4, 8, 1
CAPSET = {"x86_64": 126, "aarch64": 91}
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Calls a model or a script never needs, refused with EPERM (beside new processes).
DENIED_CALLS = (
    "fork", "vfork", "execve", "execveat", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot",
    "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open", "keyctl", "add_key",
    "request_key", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "init_module", "finit_module",
    "delete_module", "kexec_load", "reboot", "swapon", "swapoff", "acct", "mknod", "mknodat",
    "sethostname", "setdomainname", "settimeofday", "clock_settime", "quotactl",
)


class ConfineError(OSError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise ConfineError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str, flags: int, options: str | None = None) -> None:
    _check(libc.mount(source.encode(), target.encode(), fstype.encode(), flags, options.encode() if options else None), f"mount {target}")


def isolate(tmp_size_mb: int = 64, close_in_parent=()) -> None:
    """Move this freshly forked process into namespaces of its own; returns in the new
    process (PID 1 of its namespace). The process that called it waits there for it and
    exits with its status, so the zygote sees how the runner ended."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    pid = os.fork()  # the child is PID 1 of the new PID namespace
    if pid:
        for fd in close_in_parent:  # the runner's sockets: their end must mean the runner's end
            os.close(fd)
        _wait_and_exit_like(pid)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    # The zygote's /proc lists every runner: hide it. Nothing here needs /proc.
    _mount("tmpfs", "/proc", "tmpfs", flags | MS_RDONLY, "size=4k,mode=555")
    _mount("tmpfs", "/tmp", "tmpfs", flags, f"size={tmp_size_mb}m,mode=700")


def _wait_and_exit_like(pid: int) -> None:
    """The middle process: outlive the runner, then end the way it ended."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def set_limits(*, address_space: int | None, file_size: int) -> None:
    """Hard rlimits the model cannot raise again."""
    limits = [(resource.RLIMIT_FSIZE, file_size), (resource.RLIMIT_CORE, 0)]
    if address_space:
        limits.append((resource.RLIMIT_AS, address_space))
    for limit, value in limits:
        _, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))


def _drop_capabilities() -> None:
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    number = CAPSET.get(platform.machine())
    if number is None:
        raise ConfineError(errno.ENOSYS, f"no capset syscall number known for {platform.machine()}")
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable}, all empty
    _check(libc.syscall(number, header, data), "capset")


def _seccomp() -> None:
    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    refuse = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_CALLS:
        try:
            rules.add_rule(refuse, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a call on this architecture (fork and vfork on aarch64)
    # clone() without CLONE_THREAD makes a process; threads stay allowed. glibc tries
    # clone3 first and falls back to clone() when told it does not exist.
    rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    rules.load()


def lock_down(*, sandboxed: bool) -> None:
    """The last step before untrusted code runs: not dumpable, no capabilities, no new
    privileges, no new processes. Without the sandbox (MLSERVE_SANDBOX=off) only what
    needs no namespace is applied."""
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    if sandboxed:
        _drop_capabilities()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _seccomp()
