"""How loaded the POPs and their compute nodes are, for the read models."""

from __future__ import annotations

from ipaddress import IPv4Network

from sqlalchemy.orm import Session

from cloudcpe.inventory import ipam
from cloudcpe.inventory.models import ComputeNode, Pop
from cloudcpe.inventory.pops import compute_nodes_of
from cloudcpe.inventory.schemas import ComputeNodePublic, PopPublic
from cloudcpe.placement.service import functions_by_host


def compute_node_view(session: Session, node: ComputeNode) -> ComputeNodePublic:
    return compute_node_views(session, [node])[0]


def compute_node_views(session: Session, nodes: list[ComputeNode]) -> list[ComputeNodePublic]:
    placed = functions_by_host(session, [n.id for n in nodes])
    return [
        ComputeNodePublic.model_validate(
            {
                **{
                    c: getattr(node, c)
                    for c in ComputeNodePublic.model_fields
                    if c not in ("functions_placed", "load")
                },
                "functions_placed": placed[node.id],
                "load": round(placed[node.id] / node.max_functions, 4),
            }
        )
        for node in nodes
    ]


def pop_view(session: Session, pop: Pop) -> PopPublic:
    nodes = compute_nodes_of(session, pop)
    placed = functions_by_host(session, [n.id for n in nodes])
    return PopPublic(
        id=pop.id,
        name=pop.name,
        description=pop.description,
        public_pool=pop.public_pool,
        compute_nodes=len(nodes),
        functions_placed=sum(placed.values()),
        capacity=sum(n.max_functions for n in nodes),
        addresses_in_use=ipam.count_in_use(session, pop),
        addresses_total=len(ipam.usable(IPv4Network(pop.public_pool))),
        created_at=pop.created_at,
    )
