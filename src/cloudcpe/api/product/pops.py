"""POPs and their compute nodes: the provider's cloud, for operators only."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cloudcpe.api.deps import PrincipalDep, SessionDep
from cloudcpe.inventory import pops, schemas
from cloudcpe.lcm import service as lcm
from cloudcpe.placement import load

router = APIRouter(tags=["pops"])


@router.get("/pops", response_model=list[schemas.PopPublic])
def list_pops(session: SessionDep, who: PrincipalDep) -> object:
    return [load.pop_view(session, pop) for pop in pops.list_pops(session, who)]


@router.post("/pops", response_model=schemas.PopPublic, status_code=201)
def create_pop(
    data: schemas.PopCreate, response: Response, session: SessionDep, who: PrincipalDep
) -> object:
    pop = pops.create_pop(session, who, data)
    response.headers["Location"] = f"/api/v1/pops/{pop.id}"
    return load.pop_view(session, pop)


@router.get("/pops/{pop_id}", response_model=schemas.PopPublic)
def get_pop(pop_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return load.pop_view(session, pops.get_pop(session, who, pop_id))


@router.get("/pops/{pop_id}/compute_nodes", response_model=list[schemas.ComputeNodePublic])
def list_pop_compute_nodes(pop_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return load.compute_node_views(session, pops.list_compute_nodes(session, who, pop_id))


@router.post(
    "/pops/{pop_id}/compute_nodes", response_model=schemas.ComputeNodePublic, status_code=201
)
def create_compute_node(
    pop_id: str,
    data: schemas.ComputeNodeCreate,
    response: Response,
    session: SessionDep,
    who: PrincipalDep,
) -> object:
    node = pops.create_compute_node(session, who, pop_id, data)
    response.headers["Location"] = f"/api/v1/compute_nodes/{node.id}"
    return load.compute_node_view(session, node)


@router.get("/compute_nodes", response_model=list[schemas.ComputeNodePublic])
def list_compute_nodes(session: SessionDep, who: PrincipalDep) -> object:
    return load.compute_node_views(session, pops.list_compute_nodes(session, who))


@router.get("/compute_nodes/{node_id}", response_model=schemas.ComputeNodePublic)
def get_compute_node(node_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return load.compute_node_view(session, pops.get_compute_node(session, who, node_id))


@router.get("/compute_nodes/{node_id}/state")
def get_compute_node_state(node_id: str, session: SessionDep, who: PrincipalDep) -> object:
    """The node's versioned desired state document (private keys redacted) and the state the
    node last reported."""
    return lcm.compute_node_state(session, who, node_id)
