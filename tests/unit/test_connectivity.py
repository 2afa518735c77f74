"""The connectivity function kind: a routed hop with no filtering (third-party VDUs)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from cloudcpe.functions import get_kind
from cloudcpe.lcm.render import ChainFunction, PlacedChain, render_host


def test_connectivity_hop_forwards_and_filters_nothing() -> None:
    kinds = ["firewall", "connectivity", "nat"]
    placed = PlacedChain(
        key="c0ffee",
        lan_prefix=IPv4Network("192.168.10.0/24"),
        wan_address=IPv4Interface("203.0.113.2/24"),
        wan_gateway=IPv4Address("203.0.113.1"),
        lan_port="ccpe-lan",
        wan_port="ccpe-wan",
        functions=[
            ChainFunction(owner=f"v{i}", key=f"k{i}", kind=k, params={})
            for i, k in enumerate(kinds)
        ],
    )
    doc = render_host("h0000001", 1, [placed])
    hop = doc.namespaces[1]
    assert hop.kind == "connectivity"
    assert hop.nftables is None
    assert hop.sysctls == {"ipv4.ip_forward": "1"}
    # routed like every hop: default towards the WAN, the LAN back upstream
    assert {str(r.dst) for r in hop.routes} >= {"0.0.0.0/0", "192.168.10.0/24"}


def test_connectivity_takes_no_parameters() -> None:
    kind = get_kind("connectivity")
    assert kind.schema()["properties"] == {}
    try:
        kind.parse({"rules": []})
    except Exception as exc:
        assert "rules" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("unknown parameters must be refused")
