"""Strategy state as stored after each decision (spec §6): JSON round trip, version and shape checks."""

from __future__ import annotations

import json

import pytest
from factories import ACCOUNT, VI, Bar, make_frame, run

from bitsniper.strategy import (
    STATE_VERSION,
    Position,
    PositionType,
    StateFormatError,
    StrategyState,
    decide,
    state_from_json,
    state_to_json,
)

POSITION = Position(
    type=PositionType.SHORT,
    entry_time=1_751_331_600_000,
    entry_decision_time=1_751_330_700_000,
    entry_close=107_123.45,
    entry_rsi=48.123456789012345,
    exit_rsi=38.123456789012345,
    size=0.1234,
    fill_price=107_130.5,
    short_check_done=True,
)
FULL = StrategyState("vi", POSITION, PositionType.LONG_VI2, 1_751_000_000_000, 1_751_330_700_000)


@pytest.mark.parametrize(
    "state",
    [
        StrategyState(),
        FULL,
        StrategyState("rsi_volume", POSITION._replace(type=PositionType.RV_LONG2, exit_rsi=None, fill_price=None)),
    ],
)
def test_state_survives_a_json_round_trip_exactly(state: StrategyState) -> None:
    text = state_to_json(state)
    back = state_from_json(text)
    assert back == state
    assert type(back.position.type if back.position else None) in (PositionType, type(None))
    assert state_to_json(back) == text


def test_state_json_is_canonical_equal_states_give_equal_text() -> None:
    assert state_to_json(FULL) == state_to_json(state_from_json(json.dumps(json.loads(state_to_json(FULL)), indent=2)))
    assert json.loads(state_to_json(FULL))["version"] == STATE_VERSION


def test_state_read_back_gives_the_same_next_decision() -> None:
    frame = make_frame([Bar("BBB"), Bar("BBB"), Bar("AAA", rsi=50.0)] + [Bar("AAA", rsi=45.0)] * 3)
    state = run(frame, rows=range(3))[-1].state
    direct = decide(state, frame, ACCOUNT, VI, at=3)
    restored = decide(state_from_json(state_to_json(state)), frame, ACCOUNT, VI, at=3)
    assert direct == restored and direct.state.position is not None


@pytest.mark.parametrize("version", [STATE_VERSION + 1, 0, None, "1", True, 1.0])
def test_state_of_another_version_is_refused(version: object) -> None:
    data = json.loads(state_to_json(FULL))
    data["version"] = version
    with pytest.raises(StateFormatError, match="version"):
        state_from_json(json.dumps(data))


def test_state_without_a_version_is_refused() -> None:
    data = json.loads(state_to_json(FULL))
    del data["version"]
    with pytest.raises(StateFormatError, match="version"):
        state_from_json(json.dumps(data))


def _with(path: tuple[str, ...], value: object) -> str:
    data = json.loads(state_to_json(FULL))
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2]",
        '"vi"',
        _with(("strategy",), KeyError),
        _with(("position", "type"), "LONG_FOREVER"),
        _with(("position", "entry_time"), KeyError),
        _with(("position", "leverage"), 10),
        _with(("position",), "SHORT"),
        _with(("last_position_type",), "FLAT"),
        _with(("position", "entry_time"), "yesterday"),
        _with(("position", "size"), None),
        _with(("last_exit_decision_time",), 1.5),
        _with(("strategy",), 7),
        _with(("strategy",), "rsi_volume"),  # a SHORT of strategy vi in a rsi_volume state
        _with(("last_position_type",), "long2"),
        _with(("strategy",), "martingale"),
    ],
)
def test_malformed_state_is_refused(text: str) -> None:
    with pytest.raises(StateFormatError):
        state_from_json(text)
