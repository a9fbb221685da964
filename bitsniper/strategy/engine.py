"""The one decision function the pipeline, backfills and the backtester all call (spec §6).

``decide`` is pure: no clock, no I/O, no randomness. It reads rows N-2 and N-1 of a ``MarketFrame``
(by default its last two rows), the previous state and the account facts, and returns the actions to
execute at the open of N together with the new state.
"""

from __future__ import annotations

from types import ModuleType

from bitsniper.config import StrategyParams
from bitsniper.errors import ConfigError
from bitsniper.risk import position_size
from bitsniper.strategy import rsi_volume, vi
from bitsniper.strategy.frame import MarketFrame
from bitsniper.strategy.state import Account, Action, Decision, Position, StrategyState

__all__ = ["decide", "initial_state"]

_RULES: dict[str, ModuleType] = {"vi": vi, "rsi_volume": rsi_volume}


def initial_state(params: StrategyParams) -> StrategyState:
    """A flat state for the configured rule set."""
    return StrategyState(strategy=params.strategy)


def decide(
    state: StrategyState,
    frame: MarketFrame,
    account: Account,
    params: StrategyParams,
    at: int | None = None,
) -> Decision:
    """Decide at the close of row ``at`` (N-1; default the last row). Rows after ``at`` are never read."""
    size = len(frame.t)
    i = size - 1 if at is None else at
    if not 0 <= i < size:
        raise IndexError(f"decision row {i} is outside the frame of {size} candles")
    if state.strategy != params.strategy:
        raise ConfigError(
            f"strategy: the stored state belongs to {state.strategy!r} but the setting says {params.strategy!r}"
        )
    t1 = frame.t[i]
    if state.last_decision_time is not None and t1 <= state.last_decision_time:
        note = "a decision was already taken at or after this candle"
        return Decision(t1, "already_decided", (), state, (note,))
    stepped = StrategyState(
        state.strategy, state.position, state.last_position_type, state.last_exit_decision_time, t1, state.version
    )
    if i < 1 or not (frame.ok[i] and frame.ok[i - 1]):
        return Decision(t1, "warmup", (), stepped, ("indicators are not defined yet at N-1 and N-2",))
    if params.strategy == "vi" and not (frame.conv[i] and frame.conv[i - 1]):
        # N-2 too: before a VI's first flip its phase is the arbitrary start, so a "cross" into the
        # first flip candle would be an artefact of where the history begins.
        note = "I3: a volatility index has not flipped yet at N-2 or N-1; refusing to decide"
        return Decision(t1, "not_converged", (), stepped, (note,))
    return _apply_rules(_RULES[params.strategy], stepped, frame, i, account, params)


def _apply_rules(
    rules: ModuleType, state: StrategyState, f: MarketFrame, i: int, account: Account, p: StrategyParams
) -> Decision:
    t1 = f.t[i]
    execute_time = t1 + f.interval_ms
    actions: list[Action] = []
    notes: list[str] = []
    position = state.position
    if position is not None:
        reason, position = rules.exit_reason(position, f, i, p)
        if reason is not None:
            actions.append(Action("close", position.type, position.side, reason, t1, execute_time, position.size, 0))
            state = state._replace(position=None, last_position_type=position.type, last_exit_decision_time=t1)  # X8
        elif position is not state.position:
            state = state._replace(position=position)
    if state.position is None:  # X9 / L4: entries after the exits of the same decision
        if not f.consecutive(i):
            notes.append("T5: candles N-2 and N-1 are not consecutive; no entry until they are")
        else:
            kind, rule, note = rules.entry_signal(state, f, i, p)
            if note:
                notes.append(note)
            if kind is not None and account.entry_block:
                notes.append(f"risk: {kind.value} signal ({rule}) not taken: {account.entry_block}")
                kind = None
            if kind is not None:
                price = account.reference_price if account.reference_price is not None else f.c[i]
                # After a close in the same decision the margin it held is free again: size on equity.
                margin = account.equity if actions and account.equity is not None else account.available_margin
                size = position_size(margin, p.leverage, p.fee_buffer, price, p.size_step_btc)
                if size < p.min_size_btc:
                    notes.append(
                        f"E6: {kind.value} signal ({rule}) not taken, size {size:g} BTC is below the minimum "
                        f"{p.min_size_btc:g} BTC (margin {margin:.2f} USD at {price:.2f})"
                    )
                else:
                    rsi1 = f.r[i]
                    opened = Position(
                        type=kind,
                        entry_time=execute_time,
                        entry_decision_time=t1,
                        entry_close=f.c[i],
                        entry_rsi=rsi1,
                        exit_rsi=rules.exit_target(kind, rsi1, p),
                        size=size,
                    )
                    actions.append(Action("open", kind, kind.side, rule, t1, execute_time, size, len(actions)))
                    state = state._replace(position=opened)
    return Decision(t1, "ok", tuple(actions), state, tuple(notes))
