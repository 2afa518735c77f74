"""The public address pools of POPs: each chain of a cloud site holds one address.

An address is allocated in the chain's placement and released when the chain goes. The
unique constraint on (POP, address) is the guarantee that no address is ever handed to two
chains, also when two workers allocate at the same moment: the loser retries the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudcpe.errors import Invalid
from cloudcpe.inventory.models import Pop, PopAddress

_RACE_RETRIES = 5


def usable(pool: IPv4Network) -> list[IPv4Address]:
    """The addresses of a pool a chain may hold (a /31 or /32 pool: all of them)."""
    return list(pool.hosts())


def first_free(pool: IPv4Network, used: Iterable[IPv4Address]) -> IPv4Address | None:
    taken = set(used)
    return next((a for a in usable(pool) if a not in taken), None)


def in_use(session: Session, pop: Pop) -> list[IPv4Address]:
    rows = session.scalars(select(PopAddress.address).where(PopAddress.pop_id == pop.id))
    return [IPv4Address(a) for a in rows]


def count_in_use(session: Session, pop: Pop) -> int:
    stmt = select(func.count()).select_from(PopAddress).where(PopAddress.pop_id == pop.id)
    return int(session.scalar(stmt) or 0)


def has_room(session: Session, pop: Pop) -> bool:
    return count_in_use(session, pop) < len(usable(IPv4Network(pop.public_pool)))


def address_of(session: Session, ns_instance_id: str) -> IPv4Address | None:
    stmt = select(PopAddress.address).where(PopAddress.ns_instance_id == ns_instance_id)
    found = session.scalar(stmt)
    return IPv4Address(found) if found else None


def allocate(session: Session, pop: Pop, ns_instance_id: str) -> IPv4Address:
    """The chain's address (the one it holds already, or the lowest free one)."""
    held = address_of(session, ns_instance_id)
    if held is not None:
        return held
    pool = IPv4Network(pop.public_pool)
    for _ in range(_RACE_RETRIES):
        address = first_free(pool, in_use(session, pop))
        if address is None:
            raise Invalid.at(
                ["site_id"],
                f"POP {pop.name!r} has no public address left in its pool {pool}",
            )
        try:
            with session.begin_nested():
                session.add(
                    PopAddress(pop_id=pop.id, address=str(address), ns_instance_id=ns_instance_id)
                )
        except IntegrityError:
            continue  # taken by a concurrent allocation meanwhile: try the next one
        return address
    raise Invalid.at(["site_id"], f"POP {pop.name!r}: no public address could be allocated")


def release(session: Session, ns_instance_id: str) -> None:
    session.execute(delete(PopAddress).where(PopAddress.ns_instance_id == ns_instance_id))
