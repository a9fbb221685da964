"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Every table of the store (issue 4). Generated from ``bitsniper.store.models`` and checked against them by
``tests/integration/store/test_migrations.py`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here, not imported from the models: a revision is a snapshot and must not change with them.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_MONEY = sa.Numeric(precision=30, scale=12)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', _JSON, nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('resolved_at', _TIME, nullable=True),
    sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name=op.f('ck_alerts_severity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    op.create_table('candles',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('resolution', sa.String(length=8), nullable=False),
    sa.Column('open_time', _TIME, nullable=False),
    sa.Column('open', _MONEY, nullable=False),
    sa.Column('high', _MONEY, nullable=False),
    sa.Column('low', _MONEY, nullable=False),
    sa.Column('close', _MONEY, nullable=False),
    sa.Column('volume', _MONEY, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint('low <= high', name=op.f('ck_candles_low_not_above_high')),
    sa.CheckConstraint('open > 0 AND high > 0 AND low > 0 AND close > 0', name=op.f('ck_candles_positive_prices')),
    sa.CheckConstraint('volume >= 0', name=op.f('ck_candles_volume_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candles')),
    sa.UniqueConstraint('symbol', 'resolution', 'open_time', name=op.f('uq_candles_symbol_resolution_open_time'))
    )
    op.create_table('circuit_breakers',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.Column('success_count', sa.Integer(), nullable=False),
    sa.Column('opened_at', _TIME, nullable=True),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("state IN ('closed', 'open', 'half-open')", name=op.f('ck_circuit_breakers_state')),
    sa.CheckConstraint('failure_count >= 0 AND success_count >= 0', name=op.f('ck_circuit_breakers_counts_not_negative')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_circuit_breakers'))
    )
    op.create_table('decisions',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('strategy', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('candle_time', _TIME, nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('state_before', _JSON, nullable=True),
    sa.Column('state_after', _JSON, nullable=False),
    sa.Column('actions', _JSON, nullable=False),
    sa.Column('notes', _JSON, nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.CheckConstraint("mode IN ('live', 'paper', 'backfill')", name=op.f('ck_decisions_mode')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions')),
    sa.UniqueConstraint('mode', 'strategy', 'symbol', 'candle_time', name=op.f('uq_decisions_mode_strategy_symbol_candle_time'))
    )
    op.create_table('fills',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('fill_id', sa.String(length=64), nullable=False),
    sa.Column('cli_ord_id', sa.String(length=100), nullable=True),
    sa.Column('exchange_order_id', sa.String(length=64), nullable=True),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('size', _MONEY, nullable=False),
    sa.Column('price', _MONEY, nullable=False),
    sa.Column('fee', _MONEY, nullable=True),
    sa.Column('fill_type', sa.String(length=24), nullable=True),
    sa.Column('filled_at', _TIME, nullable=False),
    sa.Column('recorded_at', _TIME, nullable=False),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_fills_side')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fills')),
    sa.UniqueConstraint('fill_id', name=op.f('uq_fills_fill_id'))
    )
    op.create_index(op.f('ix_fills_cli_ord_id'), 'fills', ['cli_ord_id'], unique=False)
    op.create_table('indicator_values',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('resolution', sa.String(length=8), nullable=False),
    sa.Column('open_time', _TIME, nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_values')),
    sa.UniqueConstraint('symbol', 'resolution', 'open_time', 'name', name=op.f('uq_indicator_values_symbol_resolution_open_time_name'))
    )
    op.create_table('position_snapshots',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=5), nullable=False),
    sa.Column('size', _MONEY, nullable=False),
    sa.Column('entry_price', _MONEY, nullable=True),
    sa.Column('available_margin', _MONEY, nullable=True),
    sa.Column('equity', _MONEY, nullable=True),
    sa.Column('taken_at', _TIME, nullable=False),
    sa.CheckConstraint("mode IN ('live', 'paper', 'backfill')", name=op.f('ck_position_snapshots_mode')),
    sa.CheckConstraint("side IN ('long', 'short', 'flat')", name=op.f('ck_position_snapshots_side')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_position_snapshots_size_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_position_snapshots'))
    )
    op.create_index(op.f('ix_position_snapshots_mode_symbol_source_taken_at'), 'position_snapshots', ['mode', 'symbol', 'source', 'taken_at'], unique=False)
    op.create_table('strategy_state',
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('strategy', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('state', _JSON, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("mode IN ('live', 'paper', 'backfill')", name=op.f('ck_strategy_state_mode')),
    sa.PrimaryKeyConstraint('mode', 'strategy', 'symbol', name=op.f('pk_strategy_state'))
    )
    op.create_table('validation_results',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('suite', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('resolution', sa.String(length=8), nullable=False),
    sa.Column('candle_time', _TIME, nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('details', _JSON, nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_results')),
    sa.UniqueConstraint('suite', 'symbol', 'resolution', 'candle_time', name=op.f('uq_validation_results_suite_symbol_resolution_candle_time'))
    )
    op.create_table('orders',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('cli_ord_id', sa.String(length=100), nullable=False),
    sa.Column('decision_id', sa.String(length=80), nullable=True),
    sa.Column('action_index', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('order_type', sa.String(length=8), nullable=False),
    sa.Column('size', _MONEY, nullable=False),
    sa.Column('limit_price', _MONEY, nullable=True),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('exchange_order_id', sa.String(length=64), nullable=True),
    sa.Column('filled_size', _MONEY, nullable=False),
    sa.Column('average_price', _MONEY, nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('intent_at', _TIME, nullable=False),
    sa.Column('sent_at', _TIME, nullable=True),
    sa.Column('acknowledged_at', _TIME, nullable=True),
    sa.Column('unknown_at', _TIME, nullable=True),
    sa.Column('filled_at', _TIME, nullable=True),
    sa.Column('rejected_at', _TIME, nullable=True),
    sa.Column('cancelled_at', _TIME, nullable=True),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("mode IN ('live', 'paper', 'backfill')", name=op.f('ck_orders_mode')),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_orders_side')),
    sa.CheckConstraint("status IN ('intent', 'sent', 'acknowledged', 'unknown', 'filled', 'rejected', 'cancelled')", name=op.f('ck_orders_status')),
    sa.CheckConstraint('size > 0', name=op.f('ck_orders_positive_size')),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_orders_decision_id_decisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('cli_ord_id', name=op.f('uq_orders_cli_ord_id'))
    )
    op.create_index(op.f('ix_orders_decision_id'), 'orders', ['decision_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_orders_decision_id'), table_name='orders')
    op.drop_table('orders')
    op.drop_table('validation_results')
    op.drop_table('strategy_state')
    op.drop_index(op.f('ix_position_snapshots_mode_symbol_source_taken_at'), table_name='position_snapshots')
    op.drop_table('position_snapshots')
    op.drop_table('indicator_values')
    op.drop_index(op.f('ix_fills_cli_ord_id'), table_name='fills')
    op.drop_table('fills')
    op.drop_table('decisions')
    op.drop_table('circuit_breakers')
    op.drop_table('candles')
    op.drop_table('alerts')
