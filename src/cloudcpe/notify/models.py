"""Subscriptions and the notification outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin, utcnow


class Subscription(IdMixin, Base):
    """One SOL005 subscription. `tenant_id` None: an operator's (hears of every tenant)."""

    __tablename__ = "subscription"

    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    api: Mapped[str] = mapped_column(String(10), index=True)  # nslcm | vnfpkgm | nsd
    callback_uri: Mapped[str] = mapped_column(String(2000))
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # SOL005 SubscriptionAuthentication as given (never shown back)
    authentication: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    base_url: Mapped[str] = mapped_column(String(2000))  # what the notifications' links start with


class Notification(IdMixin, Base):
    """One notification to deliver to one subscription's callback."""

    __tablename__ = "notification"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(12), default="PENDING", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
