"""Parity (design.md): a pipeline-style replay takes exactly the backtest's trades.

The replay does what the live pipeline will do at each closed candle: load the stored state from JSON,
build the frame from the bounded history it keeps (the last ``min_history_candles``), decide on its last
row, store the new state as JSON, and record the entry's fill price once the order fills at the next open.
Only the account facts come from the same ledger, standing in for the exchange.
"""

from __future__ import annotations

from bitsniper.backtest.accounting import Costs, Ledger, Trade
from bitsniper.backtest.runner import record_liquidation, run_backtest
from bitsniper.candles import Candles
from bitsniper.config import StrategyParams, strategy_params
from bitsniper.strategy import Account, build_frame, decide, initial_state, state_from_json, state_to_json


def pipeline_replay(candles: Candles, params: StrategyParams, costs: Costs, capital: float) -> list[Trade]:
    ledger = Ledger(capital, costs)
    stored = state_to_json(initial_state(params))
    pending = ()
    history = params.min_history_candles
    for i in range(len(candles)):
        if pending:  # the orders sent after the last close fill at this candle's open
            for action in pending:
                if action.kind == "close":
                    if ledger.position is not None:
                        ledger.close(float(candles.open[i]), action.decision_time, int(candles.time[i]), action.reason)
                else:
                    state = state_from_json(stored)
                    assert state.position is not None
                    opened = ledger.open(action.position_type, action.size, float(candles.open[i]),
                                         action.decision_time, int(candles.time[i]), state.position.entry_rsi,
                                         action.reason)
                    assert opened is not None
                    stored = state_to_json(state.with_fill(opened.entry_price))
            pending = ()
        close = float(candles.close[i])
        if ledger.liquidate(float(candles.high[i]), float(candles.low[i]), float(candles.open[i]), int(candles.time[i])):
            stored = state_to_json(record_liquidation(state_from_json(stored), int(candles.time[i])))
        else:
            ledger.charge_funding(close, params.candle_minutes / 60)
        margin = ledger.position.margin if ledger.position is not None else 0.0
        account = Account(available_margin=ledger.wallet - margin, equity=ledger.equity(close))
        frame = build_frame(candles.slice(max(0, i + 1 - history), i + 1), params)
        decision = decide(state_from_json(stored), frame, account, params)
        stored = state_to_json(decision.state)
        pending = decision.actions
    trades = list(ledger.trades)
    if ledger.position is not None:
        trades.append(ledger.mark_open(float(candles.close[-1])))
    return trades


def test_pipeline_replay_with_json_state_takes_exactly_the_backtest_trades(slice_candles: Candles) -> None:
    params = strategy_params(min_history_candles=3000)
    costs = Costs(leverage=params.leverage)
    backtest = run_backtest(build_frame(slice_candles, params), params, costs, 10_000.0)
    replayed = pipeline_replay(slice_candles, params, costs, 10_000.0)
    assert len(backtest.trades) >= 8
    assert replayed == list(backtest.trades)


def test_parity_holds_with_liquidations_slippage_and_funding(slice_candles: Candles) -> None:
    params = strategy_params(leverage=30, fee_buffer=0.1, min_history_candles=3000)
    costs = Costs(leverage=30, slippage_pct=0.02, funding_rate_hourly=0.00002)
    candles = slice_candles.slice(0, 3200)  # the first liquidation comes early (row 2727): keep the test quick
    backtest = run_backtest(build_frame(candles, params), params, costs, 10_000.0)
    assert any(tr.exit_reason == "liquidation" for tr in backtest.trades)
    assert pipeline_replay(candles, params, costs, 10_000.0) == list(backtest.trades)
