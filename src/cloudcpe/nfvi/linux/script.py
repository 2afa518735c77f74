"""The benchmark baseline: a plain bash script of ip/nft/sysctl commands creating, from
nothing, the same kernel objects `LinuxDriver.apply` creates for a document.

It is also a readable account of what the driver does, in the commands an operator knows.
"""

from __future__ import annotations

import json
import shlex

from cloudcpe.nfvi.linux import plan, uapi, wireguard
from cloudcpe.nfvi.model import FunctionNamespace, HostDesiredState, LinkEnd, Tunnel, VethLink

_NFT_EOF = "CCPE_NFT_EOF"
_UAPI_EOF = "CCPE_UAPI_EOF"
# wireguard-tools' `wg` is not needed: the same text the driver sends, over the same socket
_UAPI_FUNCTION = """ccpe_uapi() {  # stdin to a wireguard-go control socket; fails unless errno=0
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
answer = b""
while not answer.endswith(b"\\n\\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    answer += chunk
sys.exit(answer.count(b"errno=0") != 1)' "$1"
}"""


def render_script(desired: HostDesiredState, host_netns: str | None) -> str:
    """Commands in the driver's order: namespaces, bridges, links, tunnels, then per function
    its interface sysctls, routes and nftables.

    Tunnel private keys are part of the script (in here-documents, never on a command line):
    treat the script as the secret it is."""
    script = _Script(desired, host_netns)
    return script.render()


class _Script:
    def __init__(self, desired: HostDesiredState, host_netns: str | None) -> None:
        self.desired = desired
        self.host_netns = host_netns
        self.alias = plan.owner_alias(desired.host)
        self.lines = ["#!/bin/bash", "set -euo pipefail"]

    def render(self) -> str:
        for ns in self.desired.namespaces:
            self.namespace(ns)
        for bridge in self.desired.bridges:
            self.ip(None, f"link add {q(bridge.name)} type bridge")
            self.ip(None, f"link set dev {q(bridge.name)} alias {q(self.alias)}")
            self.ip(None, f"link set dev {q(bridge.name)} up")
            for port in bridge.ports:
                self.ip(None, f"link set dev {q(port)} master {q(bridge.name)}")
                self.ip(None, f"link set dev {q(port)} up")
        for link in self.desired.links:
            self.link(link)
        for link in self.desired.links:
            for end in (link.a, link.b):
                if end.netns is None and end.proxy_arp:
                    self.sysctl(None, plan.end_sysctls(end))
        if self.desired.tunnels:
            self.lines.append(_UAPI_FUNCTION)
        for tunnel in self.desired.tunnels:
            self.tunnel(tunnel)
        for ns in self.desired.namespaces:
            self.inside(ns)
        return "\n".join(self.lines) + "\n"

    # ------------------------------------------------------------ pieces

    def ip(self, netns: str | None, args: str) -> None:
        target = netns if netns is not None else self.host_netns
        prefix = f"ip -n {q(target)}" if target else "ip"
        self.lines.append(f"{prefix} {args}")

    def exec_in(self, netns: str | None, command: str) -> str:
        target = netns if netns is not None else self.host_netns
        return f"ip netns exec {q(target)} {command}" if target else command

    def sysctl(self, netns: str | None, values: dict[str, str]) -> None:
        for key, value in values.items():
            if key.endswith(".proxy_arp") and value == "0":
                continue  # the kernel default; the driver writes only what differs
            self.lines.append(self.exec_in(netns, f"sysctl -qw {q(_sysctl_arg(key, value))}"))

    def namespace(self, ns: FunctionNamespace) -> None:
        self.lines.append(f"ip netns add {q(ns.name)}")
        self.ip(ns.name, "link set dev lo up")
        general, _ = plan.split_sysctls(ns.sysctls)
        self.sysctl(ns.name, general)

    def link(self, link: VethLink) -> None:
        # create from the host side: the root namespace has no name to pass to `netns`
        a, b = (
            (link.b, link.a)
            if link.a.netns is not None and link.b.netns is None
            else (link.a, link.b)
        )
        peer = f"peer name {q(b.ifname)}"
        if b.netns is not None and b.netns != a.netns:
            peer += f" netns {q(b.netns)}"
        self.ip(a.netns, f"link add {q(a.ifname)} type veth {peer}")
        for end in (a, b):
            self.end(end)

    def end(self, end: LinkEnd) -> None:
        dev = q(end.ifname)
        if end.netns is None:
            self.ip(None, f"link set dev {dev} alias {q(self.alias)}")
        for addr in end.addresses:
            self.ip(end.netns, f"addr add {addr} dev {dev}")
        if end.master is not None:
            self.ip(end.netns, f"link set dev {dev} master {q(end.master)}")
        self.ip(end.netns, f"link set dev {dev} up")
        # what the driver does through the ethtool ioctl: have the kernel act on the new
        # carrier now instead of dropping packets until its link watcher runs (up to 1 s)
        self.lines.append(self.exec_in(end.netns, f"ethtool {dev} >/dev/null"))

    def tunnel(self, tunnel: Tunnel) -> None:
        # daemon mode: returns once the process holds its interface and control socket
        owner = f"{wireguard.OWNER_ENV}={self.desired.host}"
        start = f"env -i {q(owner)} {wireguard.BINARY} {q(tunnel.ifname)}"
        self.lines.append(f"{self.exec_in(tunnel.home, start)} 2>/dev/null  # its banner")
        request, _ = uapi.set_request(tunnel, uapi.DeviceState())
        self.lines.append(f"ccpe_uapi {q(wireguard.socket_path(tunnel.ifname))} <<'{_UAPI_EOF}'")
        self.lines.append((request or "").rstrip("\n") + "\n")  # the blank line ends it
        self.lines.append(_UAPI_EOF)
        dev = q(tunnel.ifname)
        if tunnel.home != tunnel.netns:
            self.ip(tunnel.home, f"link set dev {dev} netns {q(tunnel.netns)}")
        for addr in tunnel.addresses:
            self.ip(tunnel.netns, f"addr add {addr} dev {dev}")
        self.ip(tunnel.netns, f"link set dev {dev} up")

    def inside(self, ns: FunctionNamespace) -> None:
        _, per_if = plan.split_sysctls(ns.sysctls)
        for end in plan.ends_by_namespace(self.desired).get(ns.name, []):
            per_if.update(plan.end_sysctls(end))
        self.sysctl(ns.name, per_if)
        for route in ns.routes:
            via = f" via {route.via}" if route.via is not None else ""
            onlink = " onlink" if route.onlink else ""
            self.ip(ns.name, f"route add {route.dst}{via} dev {q(route.dev)}{onlink} proto static")
        if ns.nftables is not None:
            payload = json.dumps({"nftables": plan.ruleset_commands(ns.nftables)})
            self.lines.append(f"{self.exec_in(ns.name, 'nft -j -f -')} <<'{_NFT_EOF}'")
            self.lines.append(payload)
            self.lines.append(_NFT_EOF)


def _sysctl_arg(key: str, value: str) -> str:
    # sysctl(8) splits keys on dots, so dots inside an interface name are written as "/"
    ifname = plan.interface_of_sysctl(key)
    if ifname is not None and "." in ifname:
        head, _, tail = key.partition(f".{ifname}.")
        key = f"{head}.{ifname.replace('.', '/')}.{tail}"
    return f"net.{key}={value}"


def q(word: str) -> str:
    return shlex.quote(word)
