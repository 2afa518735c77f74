"""The kernel side of tunnels: wireguard-go processes and their UAPI sockets.

A tunnel is one `wireguard-go <ifname>` process. It is started in wireguard-go's own daemon
mode from a thread inside the tunnel's home namespace: the first process creates the TUN
interface and the UAPI socket (and reports any failure on its output, which we read), then
hands both to a detached child and exits. The child is therefore never ours to reap, runs in
its own session (a Ctrl-C of the orchestrator does not reach it) and keeps the tunnel up
while no orchestrator or agent runs (edge autonomy).

Every process we start carries `CCPE_HOST=<host key>` in its environment (and nothing else
of ours: no secret ever goes there), so a scan of /proc tells which host's tunnels are
running, even after a restart of the orchestrator: that is what reconciliation and garbage
collection go by.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from cloudcpe.nfvi.linux import uapi
from cloudcpe.nfvi.linux.netns import NETNS_RUN_DIR, run_in_netns
from cloudcpe.nfvi.model import PREFIX

RUN_DIR = "/var/run/wireguard"
BINARY = "wireguard-go"
OWNER_ENV = "CCPE_HOST"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 3.0
_UAPI_TIMEOUT = 3.0


class TunnelError(RuntimeError):
    """wireguard-go could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class WgProcess:
    pid: int
    ifname: str
    host: str | None  # from CCPE_HOST; None: not started by cloudcpe
    netns: tuple[int, int]  # (device, inode) of its network namespace


def socket_path(ifname: str) -> str:
    return os.path.join(RUN_DIR, f"{ifname}.sock")


def namespace_id(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(os.path.join(NETNS_RUN_DIR, name))
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def processes() -> list[WgProcess]:
    """Every running wireguard-go process serving a `ccpe` interface (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        proc = _read_process(int(entry))
        if proc is not None:
            found.append(proc)
    return found


def _read_process(pid: int) -> WgProcess | None:
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/comm") as f:
            if f.read().strip() != BINARY:
                return None
        with open(f"{base}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                return None
        with open(f"{base}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
        with open(f"{base}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        st = os.stat(f"{base}/ns/net")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # gone meanwhile, or not ours to look at
    ifname = argv[-1].decode(errors="replace") if argv else ""
    if not ifname.startswith(PREFIX):
        return None
    owner = env.get(OWNER_ENV.encode())
    return WgProcess(
        pid=pid,
        ifname=ifname,
        host=owner.decode(errors="replace") if owner is not None else None,
        netns=(st.st_dev, st.st_ino),
    )


def binary() -> str:
    path = shutil.which(BINARY)
    if path is None:
        raise TunnelError(f"{BINARY} not found: install the Debian package {BINARY}")
    return path


def start(ifname: str, netns: str, host: str) -> None:
    """Start wireguard-go for `ifname` inside `netns`; return once it serves its UAPI."""
    exe = binary()
    env = {OWNER_ENV: host}  # nothing of the orchestrator's own environment leaks there

    def spawn() -> subprocess.CompletedProcess[str]:
        # forked from this thread, the process is born inside `netns`
        return subprocess.run(
            [exe, ifname],
            env=env,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            start_new_session=True,
            cwd="/",
        )

    done = run_in_netns(netns, spawn)
    if done.returncode != 0:
        raise TunnelError(f"{BINARY} {ifname} failed: {_words(done.stdout + done.stderr)}")
    # the detached child answers only once it holds the interface: after this, the
    # interface can be moved and configured
    get(ifname)


def _words(output: str) -> str:
    """wireguard-go's own reason, without its warning banner."""
    lines = [ln.strip() for ln in output.splitlines()]
    useful = [ln for ln in lines if "ERROR" in ln] or [
        ln for ln in lines if ln and ln[0] not in "│┌└"
    ]
    text = useful[-1] if useful else "no output"
    return text.split(") ", 1)[-1] if text.startswith("ERROR: (") else text


def stop(proc: WgProcess) -> None:
    """Stop one process and wait until it is gone; remove the UAPI socket it leaves."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    if not _wait_gone(proc.pid, _STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        if not _wait_gone(proc.pid, _STOP_TIMEOUT):
            raise TunnelError(f"{BINARY} {proc.ifname} (pid {proc.pid}) does not stop")
    if not any(p.ifname == proc.ifname for p in processes()):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path(proc.ifname))


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True  # exited; its reaper (not us) collects it
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


def _request(ifname: str, text: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_UAPI_TIMEOUT)
        sock.connect(socket_path(ifname))
        sock.sendall(text.encode())
        answer = b""
        while not answer.endswith(b"\n\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


def get(ifname: str) -> uapi.DeviceState:
    return uapi.parse_get(_request(ifname, "get=1\n\n"))


def configure(ifname: str, request: str) -> None:
    uapi.check_set_answer(_request(ifname, request))
