"""Zero-touch activation of agent-managed hosts, and the agents' own credentials.

The operator registers a host with `management = "agent"`; an activation code is issued
(shown once; only its hash is stored) and expires. The agent presents the host's serial
and the code once, and receives the host's identity and its own credential, which is
scoped to that one host (again only a hash is stored). A code is single use: activating
consumes it. Every refusal gives the same answer, so serials cannot be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloudcpe.errors import Conflict, Forbidden
from cloudcpe.inventory.models import NfviHost
from cloudcpe.store.base import as_utc, utcnow

log = logging.getLogger(__name__)

CREDENTIAL_PREFIX = "ccpa_"
CODE_GROUPS = 5  # 5 groups of 4 base32 characters: 100 random bits
LAST_SEEN_RESOLUTION = timedelta(seconds=5)  # last_seen_at is written at most this often


class ActivationRefused(Forbidden):
    """One answer for every reason (unknown serial, wrong, used or expired code)."""

    def __init__(self) -> None:
        super().__init__(
            "activation refused: the serial is unknown or the activation code is wrong, "
            "already used or expired"
        )


@dataclass(frozen=True)
class AgentIdentity:
    """Who an agent credential belongs to: exactly one host."""

    host_id: str
    host_key: str
    name: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """Codes are typed by people: case, dashes and spaces do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_activation_code() -> str:
    text = base64.b32encode(secrets.token_bytes(15)).decode()[: CODE_GROUPS * 4]
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def issue_activation_code(host: NfviHost, ttl: timedelta) -> tuple[str, datetime]:
    """A new code for `host` (any earlier code stops working). Returns (code, expiry)."""
    if host.management != "agent":
        raise Conflict(
            f"host {host.name!r} is managed by the orchestrator itself (embedded); "
            "activation codes are for agent-managed hosts"
        )
    code = new_activation_code()
    expires = utcnow() + ttl
    host.activation_code_hash = _hash(normalise_code(code))
    host.activation_expires_at = expires
    return code, expires


def activate(session: Session, serial: str, code: str) -> tuple[NfviHost, str]:
    """Consume the activation code of the host with `serial`; returns the host and its new
    agent credential (in clear text, once). Refusals are logged with their reason."""
    presented = _hash(normalise_code(code))
    host = session.scalar(select(NfviHost).where(NfviHost.serial == serial))
    reason = _refusal(host, presented)
    if reason is not None or host is None:
        log.warning("activation refused for serial %r: %s", serial, reason)
        raise ActivationRefused()
    credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    # guarded: of two agents presenting the same code at once, one wins
    won = session.execute(
        update(NfviHost)
        .where(NfviHost.id == host.id, NfviHost.activation_code_hash == presented)
        .values(
            activation_code_hash=None,
            activation_expires_at=None,
            activated_at=now,
            credential_hash=_hash(credential),
            last_seen_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("activation refused for serial %r: code used concurrently", serial)
        raise ActivationRefused()
    session.refresh(host)
    log.info("host %r (serial %r) activated", host.name, serial)
    return host, credential


def _refusal(host: NfviHost | None, presented: str) -> str | None:
    if host is None:
        hmac.compare_digest(presented, _hash("timing"))  # same work as for a known serial
        return "no such serial"
    if host.management != "agent":
        return "the host is embedded-managed"
    if host.activation_code_hash is None:
        return "no activation code pending (already used, or never issued)"
    if not hmac.compare_digest(host.activation_code_hash, presented):
        return "wrong activation code"
    if host.activation_expires_at is None or as_utc(host.activation_expires_at) <= utcnow():
        return "activation code expired"
    return None


def resolve_agent(session: Session, credential: str, touch: bool = True) -> AgentIdentity | None:
    """The host an agent credential belongs to, or None. Records that the host was seen
    (unless `touch` is False: the caller records it, e.g. in batches)."""
    if not credential.startswith(CREDENTIAL_PREFIX):
        return None
    # columns, not the entity: this runs for every call of every agent
    row = session.execute(
        select(NfviHost.id, NfviHost.host_key, NfviHost.name).where(
            NfviHost.credential_hash == _hash(credential), NfviHost.management == "agent"
        )
    ).first()
    if row is None:
        return None
    if touch:
        mark_seen(session, [row.id])
    return AgentIdentity(host_id=row.id, host_key=row.host_key, name=row.name)


def mark_seen(session: Session, host_ids: Collection[str]) -> None:
    """last_seen_at = now, written at most every few seconds per host (thousands poll)."""
    now = utcnow()
    session.execute(
        update(NfviHost)
        .where(
            NfviHost.id.in_(host_ids),
            or_(
                NfviHost.last_seen_at.is_(None),
                NfviHost.last_seen_at < now - LAST_SEEN_RESOLUTION,
            ),
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
