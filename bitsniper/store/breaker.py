"""A pybreaker storage kept in the store, so a breaker opened by one Airflow task holds for the next.

pybreaker keeps state in memory by default; each task is a new process, so an in-memory breaker would
forget every failure. Each method here is one short transaction; counters move with ``x = x + 1`` in SQL
so two processes failing together both count.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pybreaker
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bitsniper.store.db import SessionFactory, dialect_insert
from bitsniper.store.models import CircuitBreakerRow

__all__ = ["StoreBreakerStorage"]


class StoreBreakerStorage(pybreaker.CircuitBreakerStorage):
    """``pybreaker.CircuitBreaker(state_storage=StoreBreakerStorage(factory, "kraken"))``: state in ``circuit_breakers``."""

    def __init__(self, factory: SessionFactory, name: str) -> None:
        super().__init__(name)
        self._factory = factory

    def _ensure(self, session: Session) -> None:
        stmt = dialect_insert(session, CircuitBreakerRow.__table__).values(
            name=self.name, state=pybreaker.STATE_CLOSED, failure_count=0, success_count=0,
            opened_at=None, updated_at=datetime.now(timezone.utc),
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))

    def _set(self, **values: object) -> None:
        with self._factory.begin() as session:
            self._ensure(session)
            values["updated_at"] = datetime.now(timezone.utc)
            session.execute(update(CircuitBreakerRow).where(CircuitBreakerRow.name == self.name).values(values))

    def _get(self) -> CircuitBreakerRow | None:
        with self._factory() as session:
            return session.scalars(select(CircuitBreakerRow).where(CircuitBreakerRow.name == self.name)).one_or_none()

    @property
    def state(self) -> str:
        row = self._get()
        return pybreaker.STATE_CLOSED if row is None else row.state

    @state.setter
    def state(self, state: str) -> None:
        self._set(state=state)

    def increment_counter(self) -> None:
        self._set(failure_count=CircuitBreakerRow.failure_count + 1)

    def reset_counter(self) -> None:
        self._set(failure_count=0)

    def increment_success_counter(self) -> None:
        self._set(success_count=CircuitBreakerRow.success_count + 1)

    def reset_success_counter(self) -> None:
        self._set(success_count=0)

    @property
    def counter(self) -> int:
        row = self._get()
        return 0 if row is None else row.failure_count

    @property
    def success_counter(self) -> int:
        row = self._get()
        return 0 if row is None else row.success_count

    @property
    def opened_at(self) -> datetime | None:
        row = self._get()
        return None if row is None else row.opened_at

    @opened_at.setter
    def opened_at(self, moment: datetime) -> None:
        self._set(opened_at=moment)
