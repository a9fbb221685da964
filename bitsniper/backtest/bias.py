"""``bitsniper check-bias``: replay decisions on cut histories and compare them with the full run.

Two checks, like freqtrade's lookahead-analysis and recursive-analysis:

- truncated history: at a decision row i, rebuild the frame from candles ``[0, i]`` only. A rule or an
  indicator that reads a later row decides differently once the future is gone (look-ahead bias).
- warm-up lengths: rebuild the frame from the last W candles only, for each W. A decision that changes
  with W depends on where the history starts (recursive indicators not converged, state read from a
  history window), which the live pipeline, loading a bounded history, would not reproduce.

Each replay gets exactly the engine state and account facts the full run had at that row, so any
difference comes from the candles the decision could see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bitsniper.backtest.accounting import Costs
from bitsniper.backtest.runner import DecideFn, run_backtest
from bitsniper.candles import Candles, ms_to_iso
from bitsniper.config import StrategyParams
from bitsniper.strategy import Account, Decision, MarketFrame, StrategyState, build_frame, decide

__all__ = ["BiasFinding", "BiasReport", "check_bias", "describe_decision", "findings_table"]

BuildFn = Callable[[Candles, StrategyParams], MarketFrame]


@dataclass(frozen=True, slots=True)
class BiasFinding:
    check: str  # "truncated history" or "warm-up N candles"
    decision_time: int
    full: str
    replay: str


@dataclass(frozen=True, slots=True)
class BiasReport:
    rows_checked: int
    replays: int
    warmups: tuple[int, ...]
    findings: tuple[BiasFinding, ...]


def describe_decision(decision: Decision) -> str:
    """Status and actions, short enough for a table cell."""
    actions = "; ".join(f"{a.kind} {a.position_type.value} ({a.reason}) {a.size:g}" for a in decision.actions)
    return f"{decision.status}: {actions or 'no action'}"


def _same(a: Decision, b: Decision) -> bool:
    return a.status == b.status and a.actions == b.actions and a.state == b.state


def check_bias(
    candles: Candles, params: StrategyParams, costs: Costs | None = None, capital: float = 10_000.0,
    start: int = 0, stop: int | None = None, warmups: Sequence[int] = (6000, 10000), samples: int = 200,
    decide_fn: DecideFn | None = None, build: BuildFn = build_frame,
    progress: Callable[[int, int], None] | None = None,
) -> BiasReport:
    """Run the backtest once, then replay every decision that acted plus ``samples`` evenly spaced ones."""
    decide_at = decide_fn or decide
    stop = len(candles) if stop is None else stop
    inputs: dict[int, tuple[StrategyState, Account, Decision]] = {}

    def recording(state: StrategyState, frame: MarketFrame, account: Account, p: StrategyParams, i: int) -> Decision:
        decision = decide_at(state, frame, account, p, i)
        inputs[i] = (state, account, decision)
        return decision

    frame = build(candles, params)
    run_backtest(frame, params, costs, capital, start, stop, decide_fn=recording)
    acted = [i for i, (_, _, d) in inputs.items() if d.actions]
    decided = sorted(inputs)
    spread = np.linspace(0, len(decided) - 1, num=min(samples, len(decided))).astype(int) if decided else []
    rows = sorted(set(acted) | {decided[k] for k in spread})
    findings: list[BiasFinding] = []
    replays = 0
    for done, i in enumerate(rows, start=1):
        state, account, full = inputs[i]
        cuts = [("truncated history", 0)] + [(f"warm-up {w} candles", i + 1 - w) for w in warmups if i + 1 - w > 0]
        for check, first in cuts:
            replay = decide_at(state, build(candles.slice(first, i + 1), params), account, params, i - first)
            replays += 1
            if not _same(full, replay):
                findings.append(BiasFinding(check, frame.t[i], describe_decision(full), describe_decision(replay)))
        if progress is not None:
            progress(done, len(rows))
    return BiasReport(len(rows), replays, tuple(warmups), tuple(findings))


def findings_table(report: BiasReport) -> list[dict[str, str]]:
    return [{"check": f.check, "decision_time": ms_to_iso(f.decision_time), "full_run": f.full, "replay": f.replay}
            for f in report.findings]
