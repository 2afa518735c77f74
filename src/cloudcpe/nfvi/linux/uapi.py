"""WireGuard's cross-platform userspace API (UAPI), as pure text in and text out.

wireguard-go serves it on `/var/run/wireguard/<ifname>.sock`: `get=1` answers the device's
configuration as `key=value` lines, `set=1` changes it (https://www.wireguard.com/xplatform/).
Keys travel hex encoded. Nothing here touches a socket, so every rule about convergence
(what differs, which peer to touch) is unit-testable; nothing here ever puts a key into a
message meant for people.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_network

from cloudcpe.nfvi.model import Tunnel, TunnelPeer


class UapiError(RuntimeError):
    """The UAPI answered an error (errno) or something we cannot read."""


@dataclass(frozen=True)
class PeerState:
    public_key: str  # hex
    endpoint: str | None = None  # "address:port"
    allowed_ips: frozenset[IPv4Network] = frozenset()
    keepalive: int = 0
    latest_handshake: float | None = None


@dataclass(frozen=True)
class DeviceState:
    private_key: str | None = field(default=None, repr=False)  # hex; never shown
    listen_port: int = 0
    peers: Mapping[str, PeerState] = field(default_factory=dict)  # by hex public key

    @property
    def latest_handshake(self) -> float | None:
        times = [p.latest_handshake for p in self.peers.values() if p.latest_handshake]
        return max(times) if times else None


def key_hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def key_b64(hex_key: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_key)).decode()


def short_key(b64: str) -> str:
    """How a public key is named in messages (as `wg` abbreviates it)."""
    return b64[:8] + "..."


def parse_get(text: str) -> DeviceState:
    """Read the answer to `get=1`."""
    private_key: str | None = None
    listen_port = 0
    peers: dict[str, dict[str, object]] = {}
    current: dict[str, object] | None = None
    for line in text.splitlines():
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UapiError(f"unreadable UAPI line (no '='): {key[:20]!r}")
        if key == "errno":
            if value != "0":
                raise UapiError(f"UAPI get failed: errno {value}")
        elif key == "public_key":
            current = peers.setdefault(value, {"allowed_ips": set()})
        elif current is None:
            if key == "private_key":
                private_key = value
            elif key == "listen_port":
                listen_port = int(value)
        else:
            _peer_line(current, key, value)
    return DeviceState(
        private_key=private_key,
        listen_port=listen_port,
        peers={pk: _peer_state(pk, attrs) for pk, attrs in peers.items()},
    )


def _peer_line(peer: dict[str, object], key: str, value: str) -> None:
    if key == "endpoint":
        peer["endpoint"] = value
    elif key == "allowed_ip":
        net = ip_network(value, strict=False)
        if isinstance(net, IPv4Network):
            allowed = peer["allowed_ips"]
            assert isinstance(allowed, set)
            allowed.add(net)
    elif key == "persistent_keepalive_interval":
        peer["keepalive"] = int(value)
    elif key in ("last_handshake_time_sec", "last_handshake_time_nsec"):
        peer[key] = int(value)


def _peer_state(public_key: str, attrs: dict[str, object]) -> PeerState:
    sec = attrs.get("last_handshake_time_sec", 0)
    nsec = attrs.get("last_handshake_time_nsec", 0)
    assert isinstance(sec, int) and isinstance(nsec, int)
    endpoint = attrs.get("endpoint")
    keepalive = attrs.get("keepalive", 0)
    allowed = attrs["allowed_ips"]
    assert isinstance(allowed, set) and isinstance(keepalive, int)
    return PeerState(
        public_key=public_key,
        endpoint=endpoint if isinstance(endpoint, str) else None,
        allowed_ips=frozenset(allowed),
        keepalive=keepalive,
        latest_handshake=sec + nsec / 1e9 if sec else None,
    )


def check_set_answer(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("errno="):
            if line != "errno=0":
                raise UapiError(f"UAPI set refused: {line}")
            return
    raise UapiError("UAPI set: no errno in the answer")


# ---------------------------------------------------------------- convergence


def _endpoint(peer: TunnelPeer) -> str | None:
    return f"{peer.endpoint.address}:{peer.endpoint.port}" if peer.endpoint else None


def _peer_drift(want: TunnelPeer, have: PeerState) -> list[str]:
    name = f"peer {short_key(want.public_key)}"
    drift = []
    if frozenset(want.allowed_ips) != have.allowed_ips:
        drift.append(f"{name}: allowed IPs differ")
    # no desired endpoint: the one learnt from the peer's handshakes is right
    if want.endpoint is not None and _endpoint(want) != have.endpoint:
        drift.append(f"{name}: endpoint is {have.endpoint or 'unset'}")
    if (want.persistent_keepalive or 0) != have.keepalive:
        drift.append(f"{name}: keepalive is {have.keepalive or 'off'}")
    return drift


def set_request(tunnel: Tunnel, current: DeviceState) -> tuple[str | None, list[str]]:
    """The `set=1` request converging `current` to `tunnel`, or None when in place, and
    what differs in words fit for people (never a key).

    Peers are changed in place (removed ones with `remove`, changed ones re-stated with
    `replace_allowed_ips`), so the sessions of untouched peers survive a peer change.
    """
    lines: list[str] = []
    drift: list[str] = []
    private_key = key_hex(tunnel.private_key.get_secret_value())
    if current.private_key != private_key:
        lines.append(f"private_key={private_key}")
        drift.append("private key differs")
    if current.listen_port != tunnel.listen_port:
        lines.append(f"listen_port={tunnel.listen_port}")
        drift.append(f"listen port is {current.listen_port}")
    wanted = {key_hex(p.public_key): p for p in tunnel.peers}
    for hex_key in sorted(set(current.peers) - set(wanted)):
        lines += [f"public_key={hex_key}", "remove=true"]
        drift.append(f"peer {short_key(key_b64(hex_key))}: not desired")
    for hex_key, peer in wanted.items():
        have = current.peers.get(hex_key)
        peer_drift = (
            [f"peer {short_key(peer.public_key)}: absent"]
            if have is None
            else _peer_drift(peer, have)
        )
        if not peer_drift:
            continue
        drift += peer_drift
        lines.append(f"public_key={hex_key}")
        if peer.endpoint is not None:
            lines.append(f"endpoint={_endpoint(peer)}")
        lines.append(f"persistent_keepalive_interval={peer.persistent_keepalive or 0}")
        lines.append("replace_allowed_ips=true")
        lines += [f"allowed_ip={net}" for net in peer.allowed_ips]
    if not lines:
        return None, []
    return "set=1\n" + "\n".join(lines) + "\n\n", drift
