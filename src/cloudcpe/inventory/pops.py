"""POPs and their compute nodes: operator-only infrastructure (tenants may not see it)."""

from __future__ import annotations

import secrets
from ipaddress import IPv4Interface, IPv4Network, ip_network

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.errors import Conflict, Invalid, NotFound
from cloudcpe.inventory import schemas
from cloudcpe.inventory.models import ComputeNode, NfviHost, Pop


def list_pops(session: Session, who: Principal) -> list[Pop]:
    who.require_operator("reading POPs")
    return list(session.scalars(select(Pop).order_by(Pop.name)))


def get_pop(session: Session, who: Principal, pop_id: str) -> Pop:
    who.require_operator("reading a POP")
    pop = session.get(Pop, pop_id)
    if pop is None:
        raise NotFound("POP", pop_id)
    return pop


def create_pop(session: Session, who: Principal, data: schemas.PopCreate) -> Pop:
    who.require_operator("creating a POP")
    if session.scalar(select(Pop.id).where(Pop.name == data.name)):
        raise Conflict(f"POP {data.name!r} already exists")
    for other in session.scalars(select(Pop)):
        if ip_network(other.public_pool).overlaps(data.public_pool):
            raise Invalid.at(
                ["body", "public_pool"],
                f"{data.public_pool} overlaps the pool of POP {other.name!r} ({other.public_pool})",
            )
    pop = Pop(name=data.name, description=data.description, public_pool=str(data.public_pool))
    session.add(pop)
    session.flush()
    return pop


def list_compute_nodes(
    session: Session, who: Principal, pop_id: str | None = None
) -> list[ComputeNode]:
    who.require_operator("reading compute nodes")
    stmt = select(ComputeNode).order_by(ComputeNode.name)
    if pop_id is not None:
        stmt = stmt.where(ComputeNode.pop_id == get_pop(session, who, pop_id).id)
    return list(session.scalars(stmt))


def get_compute_node(session: Session, who: Principal, node_id: str) -> ComputeNode:
    who.require_operator("reading a compute node")
    node = session.get(ComputeNode, node_id)
    if node is None:
        raise NotFound("compute node", node_id)
    return node


def compute_nodes_of(session: Session, pop: Pop) -> list[ComputeNode]:
    stmt = select(ComputeNode).where(ComputeNode.pop_id == pop.id).order_by(ComputeNode.name)
    return list(session.scalars(stmt))


def create_compute_node(
    session: Session, who: Principal, pop_id: str, data: schemas.ComputeNodeCreate
) -> ComputeNode:
    who.require_operator("registering a compute node")
    pop = get_pop(session, who, pop_id)
    _check_uplink(data, IPv4Network(pop.public_pool))
    _check_unique_node(session, pop, data)
    node = ComputeNode(
        pop_id=pop.id,
        name=data.name,
        serial=data.serial,
        model=data.model,
        host_key=secrets.token_hex(4),
        uplink_port=data.uplink_port,
        uplink_address=str(data.uplink_address),
        uplink_gateway=str(data.uplink_gateway),
        max_functions=data.max_functions,
        netns=data.netns,
    )
    session.add(node)
    session.flush()
    return node


def _check_uplink(data: schemas.ComputeNodeCreate, pool: IPv4Network) -> None:
    """The chains of the node hold pool addresses on its uplink, routed by its gateway."""
    subnet = data.uplink_address.network
    if not pool.subnet_of(subnet):
        raise Invalid.at(
            ["body", "uplink_address"],
            f"the uplink subnet {subnet} must hold the POP's public pool {pool}",
        )
    if data.uplink_gateway not in subnet:
        raise Invalid.at(
            ["body", "uplink_gateway"],
            f"{data.uplink_gateway} is not in the uplink subnet {subnet}",
        )
    if data.uplink_gateway == data.uplink_address.ip:
        raise Invalid.at(["body", "uplink_gateway"], "must differ from the uplink address")
    for field, address in (
        ("uplink_address", data.uplink_address.ip),
        ("uplink_gateway", data.uplink_gateway),
    ):
        if address in pool:
            raise Invalid.at(["body", field], f"{address} is in the POP's public pool {pool}")


def _check_unique_node(session: Session, pop: Pop, data: schemas.ComputeNodeCreate) -> None:
    if session.scalar(select(NfviHost.id).where(NfviHost.serial == data.serial)):
        raise Conflict(f"a host with serial {data.serial!r} is already registered")
    if data.netns and session.scalar(select(NfviHost.id).where(NfviHost.netns == data.netns)):
        raise Conflict(f"namespace {data.netns!r} already plays another host")
    for node in compute_nodes_of(session, pop):
        if node.name == data.name:
            raise Conflict(f"POP {pop.name!r} already has a compute node {data.name!r}")
        if IPv4Interface(node.uplink_address).ip == data.uplink_address.ip:
            raise Conflict(f"compute node {node.name!r} already uses {data.uplink_address.ip}")
