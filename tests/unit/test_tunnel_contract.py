"""The tunnel part of the host contract, and the UAPI text the driver converges with."""

from __future__ import annotations

import base64
import json
from ipaddress import IPv4Network

import pytest
from pydantic import ValidationError

from cloudcpe.nfvi.linux import uapi
from cloudcpe.nfvi.model import (
    REDACTED,
    FunctionNamespace,
    HostDesiredState,
    Tunnel,
    TunnelEndpoint,
    TunnelPeer,
    redact,
)

PRIV = base64.b64encode(bytes(range(32))).decode()
PEER = base64.b64encode(bytes(range(32, 64))).decode()
OTHER = base64.b64encode(bytes(range(64, 96))).decode()


def tunnel(**changes: object) -> Tunnel:
    base: dict[str, object] = {
        "ifname": "ccpeh1-0",
        "netns": "ccpe-h1-f",
        "underlay_netns": "ccpe-h1-ul",
        "private_key": PRIV,
        "listen_port": 51820,
        "addresses": ["100.64.255.1/30"],
        "peers": [
            TunnelPeer(
                public_key=PEER,
                endpoint=TunnelEndpoint(address="198.51.100.11", port=51821),
                allowed_ips=["0.0.0.0/0"],
                persistent_keepalive=25,
            )
        ],
    }
    return Tunnel.model_validate({**base, **changes})


def test_the_private_key_is_in_the_json_but_never_in_repr_errors_or_redacted_copies() -> None:
    doc = HostDesiredState(
        host="h1",
        namespaces=[FunctionNamespace(name="ccpe-h1-f", owner="v", kind="firewall")],
        tunnels=[tunnel()],
    )
    assert PRIV not in repr(doc) and PRIV not in str(doc)
    wire = doc.model_dump(mode="json")
    assert wire["tunnels"][0]["private_key"] == PRIV  # the host needs it
    assert HostDesiredState.model_validate(wire) == doc
    shown = redact(wire)
    assert shown["tunnels"][0]["private_key"] == REDACTED
    assert PRIV not in json.dumps(shown)
    assert shown["tunnels"][0]["peers"][0]["public_key"] == PEER  # public keys stay
    assert doc.model_dump(mode="json", context={"redact": True}) == shown
    with pytest.raises(ValidationError) as err:
        tunnel(private_key=PRIV[:-4] + "!!!=")
    assert PRIV[:20] not in str(err.value)
    assert "private_key" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ifname": "wg0"}, "ifname"),
        ({"ifname": "ccpe-much-too-long-0"}, "ifname"),
        ({"private_key": "c2hvcnQ="}, "private_key"),
        ({"listen_port": 0}, "listen_port"),
        ({"peers": [TunnelPeer(public_key=PEER), TunnelPeer(public_key=PEER)]}, "peers"),
    ],
)
def test_bad_tunnels_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        tunnel(**changes)
    assert err.value.errors()[0]["loc"][0] == field


def test_a_document_names_each_tunnel_once_and_its_errors_quote_no_key() -> None:
    raw = tunnel().model_dump(mode="json")
    with pytest.raises(ValidationError, match="distinct interface names") as err:
        HostDesiredState.model_validate({"host": "h1", "tunnels": [raw, raw]})
    assert "input_value" not in str(err.value) and PRIV[-8:] not in str(err.value)


def test_home_is_the_underlay_or_the_namespace_itself() -> None:
    assert tunnel().home == "ccpe-h1-ul"
    assert tunnel(underlay_netns=None).home == "ccpe-h1-f"


# ---------------------------------------------------------------- UAPI

GET_ANSWER = f"""private_key={uapi.key_hex(PRIV)}
listen_port=51820
public_key={uapi.key_hex(PEER)}
preshared_key=0000000000000000000000000000000000000000000000000000000000000000
protocol_version=1
endpoint=198.51.100.11:51821
last_handshake_time_sec=1700000000
last_handshake_time_nsec=500000000
tx_bytes=92
rx_bytes=92
persistent_keepalive_interval=25
allowed_ip=0.0.0.0/0
errno=0

"""


def test_parse_get_reads_device_and_peers() -> None:
    state = uapi.parse_get(GET_ANSWER)
    assert state.listen_port == 51820
    (peer,) = state.peers.values()
    assert peer.endpoint == "198.51.100.11:51821"
    assert peer.allowed_ips == frozenset({IPv4Network("0.0.0.0/0")})
    assert peer.keepalive == 25
    assert state.latest_handshake == 1700000000.5
    assert uapi.key_hex(PRIV) not in repr(state)


def test_parse_get_raises_on_errno() -> None:
    with pytest.raises(uapi.UapiError, match="errno 2"):
        uapi.parse_get("errno=2\n\n")


def test_an_in_place_device_needs_no_request() -> None:
    assert uapi.set_request(tunnel(), uapi.parse_get(GET_ANSWER)) == (None, [])


def test_a_fresh_device_gets_everything() -> None:
    request, drift = uapi.set_request(tunnel(), uapi.DeviceState(listen_port=40000))
    assert request is not None
    assert request.splitlines()[:-1] == [
        "set=1",
        f"private_key={uapi.key_hex(PRIV)}",
        "listen_port=51820",
        f"public_key={uapi.key_hex(PEER)}",
        "endpoint=198.51.100.11:51821",
        "persistent_keepalive_interval=25",
        "replace_allowed_ips=true",
        "allowed_ip=0.0.0.0/0",
    ]
    assert request.endswith("\n\n")
    assert drift == ["private key differs", "listen port is 40000", f"peer {PEER[:8]}...: absent"]
    assert not any(PRIV in d or uapi.key_hex(PRIV) in d for d in drift)


def test_peer_changes_touch_only_the_peers_that_differ() -> None:
    current = uapi.parse_get(
        GET_ANSWER.replace("errno=0", f"public_key={uapi.key_hex(OTHER)}\nerrno=0")
    )
    changed = TunnelPeer(public_key=PEER, allowed_ips=["0.0.0.0/0", "10.0.0.0/8"])
    request, drift = uapi.set_request(tunnel(peers=[changed]), current)
    assert request is not None
    lines = request.splitlines()
    assert "private_key" not in request and "listen_port" not in request
    assert lines[1:3] == [f"public_key={uapi.key_hex(OTHER)}", "remove=true"]
    assert lines[3:-1] == [
        f"public_key={uapi.key_hex(PEER)}",
        "persistent_keepalive_interval=0",
        "replace_allowed_ips=true",
        "allowed_ip=0.0.0.0/0",
        "allowed_ip=10.0.0.0/8",
    ]
    assert f"peer {OTHER[:8]}...: not desired" in drift
    assert f"peer {PEER[:8]}...: allowed IPs differ" in drift


def test_a_learnt_endpoint_is_not_drift() -> None:
    learnt = TunnelPeer(public_key=PEER, allowed_ips=["0.0.0.0/0"], persistent_keepalive=25)
    assert uapi.set_request(tunnel(peers=[learnt]), uapi.parse_get(GET_ANSWER)) == (None, [])


def test_set_answers_are_checked() -> None:
    uapi.check_set_answer("errno=0\n\n")
    with pytest.raises(uapi.UapiError, match="errno=22"):
        uapi.check_set_answer("errno=22\n\n")
