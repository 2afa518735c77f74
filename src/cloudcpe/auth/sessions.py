"""Server-side portal sessions. The cookie holds a random secret; the database its hash,
the user, the expiry and the session's CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloudcpe.auth.models import User, WebSession
from cloudcpe.auth.service import aware
from cloudcpe.store.base import utcnow

LIFETIME = timedelta(hours=12)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(session: Session, user: User, source: str) -> tuple[str, WebSession]:
    """Returns the cookie value (shown to the browser only) and the session row."""
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        id_hash=_hash(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + LIFETIME,
        source=source[:64],
    )
    session.add(row)
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    session.flush()
    return secret, row


def resolve_session(session: Session, secret: str) -> tuple[User, WebSession] | None:
    row = session.get(WebSession, _hash(secret))
    if row is None:
        return None
    expires = aware(row.expires_at)
    if expires is None or expires <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return user, row


def close_session(session: Session, secret: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == _hash(secret)))


def csrf_ok(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected, presented)


def sessions_of(session: Session, user: User) -> list[WebSession]:
    return list(session.scalars(select(WebSession).where(WebSession.user_id == user.id)))
