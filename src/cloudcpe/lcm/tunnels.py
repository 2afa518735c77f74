"""The tunnel of a cloud site's chain: what the orchestrator allocates and keeps for it.

When a cloud site's chain is placed on a compute node, the chain gets a public address from
the POP's pool and a `SiteTunnel`: a slot on the node (naming the node's end and picking
its UDP port) and two X25519 key pairs generated here, one per end. Each private key only
ever goes to its own host, inside that host's desired state document; none is logged.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudcpe.errors import Invalid
from cloudcpe.inventory import ipam
from cloudcpe.inventory.models import ComputeNode, Pop, Site
from cloudcpe.inventory.service import device_of_site
from cloudcpe.lcm.models import NsInstance, SiteTunnel
from cloudcpe.lcm.render_cloud import MAX_SLOTS

_RACE_RETRIES = 5


def generate_keypair() -> tuple[str, str]:
    """(private, public) X25519 keys, base64 as WireGuard writes them."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    private_b64 = base64.b64encode(private).decode()
    return private_b64, public_key_of(private_b64)


def public_key_of(private_b64: str) -> str:
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_b64))
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(public).decode()


def tunnel_of(session: Session, ns_instance_id: str) -> SiteTunnel | None:
    return session.scalar(select(SiteTunnel).where(SiteTunnel.ns_instance_id == ns_instance_id))


def attach(session: Session, ns: NsInstance, site: Site, node: ComputeNode) -> SiteTunnel:
    """The chain's public address and tunnel; on a retry, the ones it already has."""
    ipam.allocate(session, session.get_one(Pop, node.pop_id), ns.id)
    existing = tunnel_of(session, ns.id)
    if existing is not None:
        return existing
    device = device_of_site(session, site)
    if device is None:
        raise Invalid.at(["site_id"], f"cloud site {site.name!r} has no thin CPE")
    for _ in range(_RACE_RETRIES):
        slot = _free_slot(session, node)
        cpe_private, cpe_public = generate_keypair()
        pop_private, pop_public = generate_keypair()
        tunnel = SiteTunnel(
            ns_instance_id=ns.id,
            device_id=device.id,
            compute_node_id=node.id,
            slot=slot,
            cpe_private_key=cpe_private,
            cpe_public_key=cpe_public,
            pop_private_key=pop_private,
            pop_public_key=pop_public,
        )
        try:
            with session.begin_nested():
                session.add(tunnel)
        except IntegrityError:
            continue  # the slot was taken by a concurrent placement: take the next
        return tunnel
    raise Invalid.at(["site_id"], f"no tunnel slot could be allocated on {node.name!r}")


def _free_slot(session: Session, node: ComputeNode) -> int:
    used = set(
        session.scalars(select(SiteTunnel.slot).where(SiteTunnel.compute_node_id == node.id))
    )
    slot = next((i for i in range(MAX_SLOTS) if i not in used), None)
    if slot is None:
        raise Invalid.at(["site_id"], f"compute node {node.name!r} has no tunnel slot left")
    return slot


def detach(session: Session, ns: NsInstance) -> list[str]:
    """Release the chain's address and tunnel; the hosts whose documents change."""
    ipam.release(session, ns.id)
    tunnel = tunnel_of(session, ns.id)
    if tunnel is None:
        return []
    session.delete(tunnel)
    return [tunnel.device_id, tunnel.compute_node_id]
