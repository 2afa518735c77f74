"""Who is calling, and what they may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select

from cloudcpe.errors import Forbidden

S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True)
class Principal:
    name: str
    tenant_id: str | None  # None: an operator, sees every tenant

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    def can_see(self, tenant_id: str | None) -> bool:
        return self.is_operator or tenant_id == self.tenant_id

    def require_operator(self, action: str) -> None:
        if not self.is_operator:
            raise Forbidden(f"{action} needs an operator token")

    def scoped(self, stmt: S, tenant_column: Any) -> S:
        """Restrict a query to what this principal may see."""
        return stmt if self.is_operator else stmt.where(tenant_column == self.tenant_id)  # type: ignore[return-value]


OPERATOR = Principal(name="system", tenant_id=None)
