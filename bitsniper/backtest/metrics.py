"""Performance figures of a backtest (``metrics.json``), from the equity curve and the trades.

Returns are daily (the equity at the last candle close of each UTC day, the start capital before the
first day), annualised over 365 days because crypto trades every day; the risk-free rate is 0.
Drawdowns are negative percentages so that, for every figure, higher is better (optimisation ranks by it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from bitsniper.backtest.accounting import Trade

__all__ = ["compute_metrics", "drawdown_pct", "daily_returns", "METRIC_NAMES"]

DAY_MS = 86_400_000
YEAR_DAYS = 365.0
METRIC_NAMES = (
    "total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino", "win_rate_pct", "profit_factor",
    "exposure_pct", "trades", "liquidations", "final_equity",
)


def drawdown_pct(equity: Sequence[float], capital: float) -> np.ndarray:
    """Percent below the running peak (the start capital counts as the first peak); 0 or negative."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return values
    peak = np.maximum.accumulate(np.maximum(values, capital))
    return (values / peak - 1.0) * 100.0


def daily_returns(times: Sequence[int], equity: Sequence[float], capital: float) -> np.ndarray:
    """Simple returns between the last equity of consecutive UTC days, starting from ``capital``."""
    if len(equity) == 0:
        return np.empty(0)
    days = np.asarray(times, dtype=np.int64) // DAY_MS
    values = np.asarray(equity, dtype=np.float64)
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = np.concatenate(([capital], values[last_of_day]))
    return closes[1:] / closes[:-1] - 1.0


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0 or not math.isfinite(denominator):
        return None
    return numerator / denominator


def compute_metrics(
    trades: Sequence[Trade], times: Sequence[int], equity: Sequence[float], in_position: Sequence[bool],
    capital: float, interval_ms: int,
) -> dict[str, Any]:
    """Every figure of ``metrics.json``; a figure that cannot be defined (no losses, no spread) is None."""
    final = float(equity[-1]) if len(equity) else float(capital)
    span_days = (len(equity) * interval_ms) / DAY_MS
    total = final / capital - 1.0
    cagr = ((final / capital) ** (YEAR_DAYS / span_days) - 1.0) if span_days > 0 and final > 0 else None
    returns = daily_returns(times, equity, capital)
    sharpe = sortino = None
    if returns.size >= 2:
        mean = float(returns.mean())
        std = float(returns.std(ddof=1))
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        scale = math.sqrt(YEAR_DAYS)
        sharpe = None if std == 0 else mean / std * scale
        sortino = None if downside == 0 else mean / downside * scale
    closed = [tr for tr in trades if tr.exit_reason != "open"]
    wins = sum(tr.pnl for tr in closed if tr.pnl > 0)
    losses = -sum(tr.pnl for tr in closed if tr.pnl < 0)
    drawdown = drawdown_pct(equity, capital)
    return {
        "total_return_pct": 100.0 * total,
        "cagr_pct": None if cagr is None else 100.0 * cagr,
        "max_drawdown_pct": float(drawdown.min()) if drawdown.size else 0.0,
        "sharpe": sharpe,
        "sortino": sortino,
        "win_rate_pct": 100.0 * sum(1 for tr in closed if tr.pnl > 0) / len(closed) if closed else None,
        "profit_factor": _ratio(wins, losses),
        "exposure_pct": 100.0 * sum(in_position) / len(in_position) if len(in_position) else 0.0,
        "trades": len(closed),
        "open_trades": len(trades) - len(closed),
        "trades_by_type": dict(sorted(Counter(tr.type for tr in closed).items())),
        "trades_by_exit_reason": dict(sorted(Counter(tr.exit_reason for tr in closed).items())),
        "liquidations": sum(1 for tr in closed if tr.exit_reason == "liquidation"),
        "fees": sum(tr.fees for tr in trades),
        "funding": sum(tr.funding for tr in trades),
        "start_capital": float(capital),
        "final_equity": final,
        "days": span_days,
    }
