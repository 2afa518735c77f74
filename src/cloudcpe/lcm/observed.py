"""What a host reports back: its observed state, recorded in order.

Reports may arrive twice or out of order (an agent retries a batch; an LCM step records
what an embedded host answered while a newer report lands). An observation is ordered by
(version it answers, when the host made it): an older one never overwrites a newer one,
and the same one twice changes nothing. The ordering is one guarded UPDATE, so two writers
cannot interleave between a read and a write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from cloudcpe.lcm.models import HostDocument
from cloudcpe.nfvi.model import ObservedState
from cloudcpe.store.base import as_utc, utcnow


def record_observation(
    session: Session, host_id: str, observed: ObservedState, observed_at: datetime | None = None
) -> bool:
    """Store `observed` unless the host's document already holds a newer observation.

    Returns True when it was stored. `observed_at` is when the host made the observation
    (default: now)."""
    at = as_utc(observed_at) if observed_at else utcnow()
    v = observed.version
    doc = HostDocument
    result = session.execute(
        update(HostDocument)
        .where(
            HostDocument.host_id == host_id,
            or_(
                doc.observed_version.is_(None),
                doc.observed_version < v,
                and_(
                    doc.observed_version == v,
                    or_(doc.observed_at.is_(None), doc.observed_at < at),
                ),
            ),
        )
        .values(
            observed=observed.model_dump(mode="json"),
            observed_version=v,
            observed_at=at,
            reported_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
