"""Work inside named network namespaces without moving the whole process.

`setns(2)` with CLONE_NEWNET changes the namespace of the calling *thread* only, so every
helper here runs its work on a fresh, short-lived thread that enters the namespace first.
Sockets keep the namespace they were created in, so a socket made on such a thread can be
used from any thread afterwards: that is how `open_iproute` gets a netlink socket of a
namespace without the fork pyroute2's `IPRoute(netns=...)` costs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as _pr_netns

T = TypeVar("T")

NETNS_RUN_DIR = "/var/run/netns"
_CLONE_NEWNET = 0x40000000
_NETLINK_ROUTE = 0
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(OSError):
    """A namespace could not be entered, created or removed."""


def run_in_netns(name: str | None, fn: Callable[[], T]) -> T:
    """Run `fn` inside namespace `name` (None: the current one) and return its result."""
    if name is None:
        return fn()

    def entered() -> T:
        _enter(name)
        return fn()

    return on_fresh_thread(entered, f"netns:{name}")


def on_fresh_thread(fn: Callable[[], T], label: str = "netns") -> T:
    """Run `fn` on a new thread, so namespace switches die with it; re-raise its error."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=label, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["value"]
    return result


def _enter(name: str) -> None:
    # flags=0: pyroute2 would otherwise create a missing namespace instead of failing
    try:
        _pr_netns.setns(name, flags=0)
    except FileNotFoundError:
        raise NetnsError(errno.ENOENT, f"network namespace {name!r} does not exist") from None


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_RUN_DIR, name))


def create_netns(name: str) -> None:
    """Create a named namespace the way `ip netns add` does, on a thread instead of a fork."""

    def target() -> None:
        if _libc.unshare(_CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(err, f"unshare for namespace {name!r}: {os.strerror(err)}")
        try:
            # "thread-self": unshare moved only this thread, /proc/self is the main thread's
            _pr_netns.attach(name, "thread-self")
        except OSError:
            _remove_quietly(name)
            raise

    on_fresh_thread(target, f"netns-create:{name}")


def remove_netns(name: str) -> None:
    """Remove a named namespace; the kernel frees it once nothing holds it any more."""
    with suppress(FileNotFoundError):
        _pr_netns.remove(name)


def _remove_quietly(name: str) -> None:
    with suppress(OSError):
        remove_netns(name)


def netns_socket(name: str | None, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket that belongs to namespace `name`, usable from any thread."""
    return run_in_netns(name, lambda: socket.socket(family, type_, proto))


def open_iproute(name: str | None) -> IPRoute:
    """An `IPRoute` bound to namespace `name` (None: the current one). Close it after use."""
    if name is None:
        return IPRoute()
    sock = netns_socket(name, socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    try:
        return IPRoute(use_socket=sock)
    except BaseException:
        sock.close()
        raise


@contextmanager
def iproute(name: str | None) -> Iterator[IPRoute]:
    ipr = open_iproute(name)
    try:
        yield ipr
    finally:
        ipr.close()


def netns_fd(name: str) -> int:
    """An open fd of a named namespace, for IFLA_NET_NS_FD. The caller closes it."""
    try:
        return os.open(os.path.join(NETNS_RUN_DIR, name), os.O_RDONLY)
    except FileNotFoundError:
        raise NetnsError(errno.ENOENT, f"network namespace {name!r} does not exist") from None


def sysctl_file(key: str) -> str:
    """The /proc/sys path of a sysctl key below `net.` given as a dotted path.

    The interface segment of `ipv4.conf.<ifname>.<key>` may itself contain dots (VLAN
    style names), so it is taken whole rather than split.
    """
    parts = key.split(".")
    if len(parts) >= 4 and parts[1] in ("conf", "neigh"):
        parts = [parts[0], parts[1], ".".join(parts[2:-1]), parts[-1]]
    return "/proc/sys/net/" + "/".join(parts)


def read_sysctl(key: str) -> str:
    with open(sysctl_file(key)) as f:
        return f.read().strip()


def write_sysctl(key: str, value: str) -> bool:
    """Set a sysctl of the calling thread's namespace; True when the value changed."""
    if read_sysctl(key).split() == value.split():
        return False
    with open(sysctl_file(key), "w") as f:
        f.write(value)
    return True
