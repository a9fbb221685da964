"""The engine's data: strategy state (JSON, versioned), account facts in, actions and decisions out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from bitsniper.errors import BitSniperError

__all__ = [
    "STATE_VERSION",
    "PositionType",
    "Position",
    "StrategyState",
    "Account",
    "Action",
    "Decision",
    "state_to_json",
    "state_from_json",
    "StateFormatError",
]

STATE_VERSION = 1

Side = Literal["long", "short"]
Status = Literal["ok", "warmup", "not_converged", "already_decided"]


class PositionType(StrEnum):
    """Position types of both rule sets (spec §3 and §5)."""

    SHORT = "SHORT"
    LONG_VI1 = "LONG_VI1"
    LONG_VI2 = "LONG_VI2"
    LONG_REENTRY = "LONG_REENTRY"
    RV_LONG1 = "long1"
    RV_LONG2 = "long2"
    RV_SHORT = "short"

    @property
    def side(self) -> Side:
        return "short" if self in (PositionType.SHORT, PositionType.RV_SHORT) else "long"


class StateFormatError(BitSniperError):
    """A stored state cannot be read (unknown version or malformed): refuse to decide on it."""


class Position(NamedTuple):
    """The open position as the strategy remembers it (E7); times are epoch ms, UTC.

    Named tuples, not dataclasses: immutable and several times cheaper to build, which matters because
    the backtester calls the engine once per candle.
    """

    type: PositionType
    entry_time: int  # open time of candle N, where the entry is executed (T4)
    entry_decision_time: int  # open time of candle N-1, whose close decided the entry
    entry_close: float  # close of N-1 (X5, L1-L3 stops)
    entry_rsi: float  # RSI of N-1 (X1, X4)
    exit_rsi: float | None  # the X1 target level (entry RSI +/- delta); None where the rule set has none
    size: float  # BTC
    fill_price: float | None = None  # set once the order has filled
    short_check_done: bool = False  # X5 runs once

    @property
    def side(self) -> Side:
        return self.type.side


class StrategyState(NamedTuple):
    """Everything the engine remembers between decisions; small, immutable and JSON-serialisable."""

    strategy: str = "vi"
    position: Position | None = None
    last_position_type: PositionType | None = None  # X8: updated when a position closes
    last_exit_decision_time: int | None = None  # open time of N-1 at the last exit (E3, L4)
    last_decision_time: int | None = None  # open time of N-1 of the last decision taken
    version: int = STATE_VERSION

    def with_fill(self, price: float) -> "StrategyState":
        """Record the entry's actual fill price (E7)."""
        if self.position is None:
            return self
        return self._replace(position=self.position._replace(fill_price=float(price)))


@dataclass(frozen=True, slots=True)
class Account:
    """Account facts the engine may read (E6); ``reference_price`` defaults to close(N-1).

    ``entry_block`` carries the operator's and the risk limits' verdict (kill switch, daily loss, pause):
    when set, no new position is opened and the reason is noted; exits still apply.
    """

    available_margin: float
    equity: float | None = None
    reference_price: float | None = None
    entry_block: str | None = None


class Action(NamedTuple):
    """One order to execute at the open of candle N (T3)."""

    kind: Literal["open", "close"]
    position_type: PositionType
    side: Side  # side of the position opened or closed
    reason: str  # rule id that fired, e.g. "E1", "X2"
    decision_time: int  # open time of N-1
    execute_time: int  # open time of N
    size: float  # BTC
    index: int = 0  # position within the decision: a reversal (X9) is close (0) then open (1)

    @property
    def order_side(self) -> Literal["buy", "sell"]:
        opening_long = self.kind == "open" and self.side == "long"
        closing_short = self.kind == "close" and self.side == "short"
        return "buy" if opening_long or closing_short else "sell"

    @property
    def reduce_only(self) -> bool:
        return self.kind == "close"  # X7


class Decision(NamedTuple):
    """What the engine decided at one closed candle, and the state to keep."""

    decision_time: int
    status: Status
    actions: tuple[Action, ...]
    state: StrategyState
    notes: tuple[str, ...] = ()


def _position_to_dict(position: Position | None) -> dict[str, Any] | None:
    if position is None:
        return None
    data = position._asdict()
    data["type"] = position.type.value
    return data


def state_to_json(state: StrategyState) -> str:
    """Serialise a state; keys sorted so equal states give equal text."""
    data = state._asdict()
    data["position"] = _position_to_dict(state.position)
    data["last_position_type"] = state.last_position_type.value if state.last_position_type else None
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _typed(value: Any, name: str, kind: type, optional: bool = False) -> Any:
    """One field of a stored state, checked: a state with a wrong type must be refused, not decided on."""
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StateFormatError(f"malformed strategy state: {name} is {value!r}, expected {kind.__name__}")
    return value


_POSITION_FIELDS: dict[str, tuple[type, bool]] = {
    "entry_time": (int, False),
    "entry_decision_time": (int, False),
    "entry_close": (float, False),
    "entry_rsi": (float, False),
    "exit_rsi": (float, True),
    "size": (float, False),
    "fill_price": (float, True),
    "short_check_done": (bool, False),
}

_STRATEGY_TYPES: dict[str, tuple[PositionType, ...]] = {
    "vi": (PositionType.SHORT, PositionType.LONG_VI1, PositionType.LONG_VI2, PositionType.LONG_REENTRY),
    "rsi_volume": (PositionType.RV_LONG1, PositionType.RV_LONG2, PositionType.RV_SHORT),
}


def state_from_json(text: str | bytes) -> StrategyState:
    """Read a state written by ``state_to_json``; an unknown version or shape raises ``StateFormatError``."""
    try:
        data = json.loads(text)
        version = data.get("version")
        if type(version) is not int or version != STATE_VERSION:
            raise StateFormatError(f"strategy state version {version!r} is not supported (expected {STATE_VERSION})")
        raw_position = data.get("position")
        position = None
        if raw_position is not None:
            raw_position = dict(raw_position)
            unknown = set(raw_position) - set(_POSITION_FIELDS) - {"type"}
            if unknown:
                raise StateFormatError(f"malformed strategy state: unknown position fields {sorted(unknown)}")
            fields = {
                name: _typed(raw_position[name], f"position.{name}", kind, optional)
                for name, (kind, optional) in _POSITION_FIELDS.items()
                if name in raw_position or not optional
            }
            position = Position(type=PositionType(raw_position["type"]), **fields)
        last_type = PositionType(data["last_position_type"]) if data.get("last_position_type") else None
        strategy = _typed(data["strategy"], "strategy", str)
        for kind in (position.type if position else None, last_type):
            if kind is not None and kind not in _STRATEGY_TYPES.get(strategy, ()):
                raise StateFormatError(f"malformed strategy state: position type {kind.value} is not of strategy {strategy!r}")
        return StrategyState(
            strategy=strategy,
            position=position,
            last_position_type=last_type,
            last_exit_decision_time=_typed(data.get("last_exit_decision_time"), "last_exit_decision_time", int, True),
            last_decision_time=_typed(data.get("last_decision_time"), "last_decision_time", int, True),
            version=STATE_VERSION,
        )
    except StateFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StateFormatError(f"malformed strategy state: {error}") from None
