"""Helpers for tests with users and roles: create a user, get its bearer token."""

from __future__ import annotations

from cloudcpe.auth.schemas import UserCreate
from cloudcpe.store.db import SessionFactory

PASSWORD = "correct-horse-battery"


def make_user(
    factory: SessionFactory, name: str, role: str, tenant_id: str | None = None
) -> tuple[str, str]:
    """Creates the user; returns (user id, its API token)."""
    from cloudcpe.auth.principal import OPERATOR
    from cloudcpe.auth.service import issue_user_token
    from cloudcpe.auth.users import create_user
    from cloudcpe.store.db import unit_of_work

    with unit_of_work(factory) as s:
        user = create_user(
            s,
            OPERATOR,
            UserCreate.model_validate(
                {"name": name, "password": PASSWORD, "role": role, "tenant_id": tenant_id}
            ),
        )
        token, _ = issue_user_token(s, user, f"{name}-token", None)
        return user.id, token
