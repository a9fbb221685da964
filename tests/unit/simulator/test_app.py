"""The simulator over HTTP: exact envelopes, nonce rules on the wire, SDK quirks, reply shapes, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from kraken.exceptions import KrakenAuthenticationError
from kraken.futures import Market, Trade, User
from typer.testing import CliRunner

from bitsniper.simulator.auth import sign
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, make_candles, running_simulator

DATA = Path(__file__).resolve().parents[2] / "data" / "kraken"
API = "/derivatives/api/v3"


@pytest.fixture(scope="module")
def live() -> Iterator[RunningSimulator]:
    with running_simulator(make_candles(50)) as running:
        yield running


def signed_post(url: str, path: str, body: dict[str, str], nonce: str) -> dict[str, Any]:
    data = urlencode(body)
    headers = {
        "APIKey": TEST_API_KEY,
        "Nonce": nonce,
        "Authent": sign(TEST_API_SECRET, data, nonce, path.removeprefix("/derivatives")),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(url + path, data=data, headers=headers, timeout=5).json()


def test_repeated_nonce_on_the_wire_is_nonce_duplicate_and_lower_is_below_threshold() -> None:
    body = {"cliOrdIds": "none"}
    with running_simulator(make_candles(5)) as own:  # its own simulator: the nonces here are far ahead
        first = signed_post(own.url, f"{API}/orders/status", body, "9000000000000000001")
        again = signed_post(own.url, f"{API}/orders/status", body, "9000000000000000001")
        lower = signed_post(own.url, f"{API}/orders/status", body, "9000000000000000000")
    assert first["result"] == "success" and first["orders"] == []
    assert (again["result"], again["error"]) == ("error", "nonceDuplicate")
    assert (lower["result"], lower["error"]) == ("error", "nonceBelowThreshold")
    assert set(again) == {"result", "serverTime", "error"}


def test_private_endpoint_without_headers_is_authentication_error_with_http_200(live: RunningSimulator) -> None:
    reply = requests.get(f"{live.url}{API}/openpositions", timeout=5)
    assert reply.status_code == 200
    assert reply.json()["error"] == "authenticationError"


def test_sdk_with_wrong_key_raises_krakens_authentication_error(live: RunningSimulator) -> None:
    with pytest.raises(KrakenAuthenticationError):
        User(key="someone-else", secret=TEST_API_SECRET, url=live.url).get_open_positions()


def test_python_true_for_reduce_only_is_refused_as_kraken_does(live: RunningSimulator) -> None:
    trade = Trade(key=TEST_API_KEY, secret=TEST_API_SECRET, url=live.url)
    reply = trade.create_order(orderType="mkt", size="0.0001", symbol="PF_XBTUSD", side="sell", reduceOnly=True)
    assert (reply["result"], reply["error"]) == ("error", "invalidArgument")


def test_process_before_on_the_wire_is_read_as_iso_time_and_garbage_is_invalid_argument(live: RunningSimulator) -> None:
    trade = Trade(key=TEST_API_KEY, secret=TEST_API_SECRET, url=live.url)
    order = {"orderType": "mkt", "size": "0.0001", "symbol": "PF_XBTUSD", "side": "buy"}
    orders_before = len(live.sim.state.orders)
    past = trade.create_order(**order, processBefore="2001-01-01T00:00:00.000Z")
    garbage = trade.create_order(**order, processBefore="tomorrow")
    assert (past["result"], past["sendStatus"]["status"]) == ("success", "processBeforeExpired")
    assert "order_id" not in past["sendStatus"]
    assert (garbage["result"], garbage["error"]) == ("error", "invalidArgument")
    assert len(live.sim.state.orders) == orders_before


def test_put_leverage_signed_over_the_query_string_is_accepted(live: RunningSimulator) -> None:
    market = Market(key=TEST_API_KEY, secret=TEST_API_SECRET, url=live.url)
    assert market.request("PUT", f"{API}/leveragepreferences", post_params={"symbol": "PF_XBTUSD", "maxLeverage": "5"})[
        "result"
    ] == "success"
    assert market.get_leverage_preference()["leveragePreferences"] == [{"symbol": "PF_XBTUSD", "maxLeverage": 5.0}]
    live.sim.state.set_leverage("PF_XBTUSD", None)


def test_charts_count_limits_the_reply_to_the_latest_candles(live: RunningSimulator) -> None:
    reply = requests.get(f"{live.url}/api/charts/v1/trade/PF_XBTUSD/15m", params={"count": 3}, timeout=5).json()
    assert len(reply["candles"]) == 3 and reply["more_candles"] is True
    assert reply["candles"][-1]["time"] == int(live.sim.market.last_ms)


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Every key path in a payload, list items merged (``fills[].fill_id``)."""
    keys: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            keys.add(path)
            keys |= _keys(inner, path)
    elif isinstance(value, list):
        for item in value:
            keys |= _keys(item, f"{prefix}[]")
    return keys


@pytest.mark.parametrize(
    ("recorded", "call"),
    [
        ("accounts", lambda u, t, m: u.get_wallets()),
        ("openpositions", lambda u, t, m: u.get_open_positions()),
        ("fills", lambda u, t, m: t.get_fills()),
        ("orders_status", lambda u, t, m: t.get_orders_status(cliOrdIds=["shape"])),
        ("openorders", lambda u, t, m: u.get_open_orders()),
        ("sendorder_placed_mkt", lambda u, t, m: t.create_order("mkt", "0.0001", "PF_XBTUSD", "sell", "shape-2")),
        ("leveragepreferences", lambda u, t, m: m.get_leverage_preference()),
    ],
)
def test_simulator_reply_has_every_field_of_the_recorded_payload(recorded: str, call: Any) -> None:
    # Arrange: a position, a fill, a resting order and a preference, so every list has an item
    with running_simulator(make_candles(50)) as running:
        user = User(key=TEST_API_KEY, secret=TEST_API_SECRET, url=running.url)
        trade = Trade(key=TEST_API_KEY, secret=TEST_API_SECRET, url=running.url)
        market = Market(key=TEST_API_KEY, secret=TEST_API_SECRET, url=running.url)
        trade.create_order("mkt", "0.1", "PF_XBTUSD", "sell", "shape")
        trade.create_order("lmt", "0.1", "PF_XBTUSD", "buy", "rest", limitPrice="40000")
        market.request("PUT", f"{API}/leveragepreferences", post_params={"symbol": "PF_XBTUSD", "maxLeverage": "10"})
        # Act
        reply = call(user, trade, market)
    # Assert
    expected = _keys(json.loads((DATA / f"{recorded}.json").read_text()))
    missing = expected - _keys(reply)
    assert not missing, f"simulator reply lacks {sorted(missing)}"


def test_cli_refuses_a_bad_fault_spec_with_exit_code_2() -> None:
    from bitsniper.cli import app

    result = CliRunner().invoke(
        app, ["simulator", "--api-key", "k", "--api-secret", TEST_API_SECRET, "--fault", "sendorder:explode"]
    )
    assert result.exit_code == 2
    assert "unknown kind" in result.output


def test_cli_refuses_to_start_without_a_key_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    from bitsniper.cli import app

    monkeypatch.delenv("BITSNIPER_SIMULATOR_API_KEY", raising=False)
    monkeypatch.delenv("BITSNIPER_SIMULATOR_API_SECRET", raising=False)
    result = CliRunner().invoke(app, ["simulator", "--candles", str(DATA.parents[1] / "data" / "missing.csv")])
    assert result.exit_code == 2
