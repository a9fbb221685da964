"""Replaying candles through the pipeline's five steps gives the backtest's decisions on those candles.

The pipeline reads its candles from the store (a bounded 6,000-candle window) and chains its state from
stored decisions; the backtest computes everything once over the file. Same engine, same decisions.
"""

from __future__ import annotations

import time

from pydantic import SecretStr

from bitsniper import pipeline
from bitsniper.backtest.runner import run_backtest
from bitsniper.candles import Candles, read_candles_csv
from bitsniper.config import load_settings
from bitsniper.services import build_services
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, running_simulator
from bitsniper.store import repositories as repo
from bitsniper.store.migrate import upgrade
from bitsniper.strategy import build_frame

from tests.conftest import ROOT

SAMPLE = ROOT / "include" / "sample_candles_15m.csv.gz"
INTERVAL = 900_000


def test_pipeline_replay_takes_the_backtests_decisions(postgres_url: str) -> None:
    sample = read_candles_csv(SAMPLE)
    settings = load_settings(database_url=postgres_url, exchange="simulator")
    params = settings.strategy_params()
    backtest = run_backtest(build_frame(sample, params), params)
    index = {int(t): i for i, t in enumerate(sample.time.tolist())}
    # A short stretch that starts flat and holds one whole round trip, past the 6,000-candle window; E3
    # is left out because it depends on the position before it, which a fresh replay does not have.
    trade = next(
        t for t in backtest.trades
        if t.exit_decision_time and index[t.entry_decision_time] > 6000 and t.entry_reason != "E3"
        and index[t.exit_decision_time] - index[t.entry_decision_time] <= 18
    )
    rows = range(index[trade.entry_decision_time] - 3, index[trade.exit_decision_time] + 3)

    upgrade(postgres_url)
    now_ms = int(sample.time[-1]) + INTERVAL + 60_000  # the sample as it stood when it ended
    with running_simulator(sample, now_ms=now_ms) as sim:
        services = build_services(
            load_settings(database_url=postgres_url, exchange="simulator", exchange_url=sim.url),
            credentials=(SecretStr(TEST_API_KEY), SecretStr(TEST_API_SECRET)),
        )
        replayed: dict[int, tuple] = {}
        for i in rows:
            candle = int(sample.time[i])
            spec = pipeline.run_spec(
                dag_id="parity", run_id=f"r{i}", tick_ms=candle + INTERVAL, now_ms=now_ms, interval_ms=INTERVAL, backfill=True
            )
            pipeline.ingest_candles(services, spec)
            pipeline.validate_data(services, spec)
            pipeline.compute_indicators(services, spec)
            record = repo.load_decision(services.factory, pipeline.decide_step(services, spec))
            assert pipeline.execute_orders(services, spec, record.id)["sent"] == 0  # backfills never trade
            replayed[candle] = tuple((a.kind, a.position_type.value, a.reason) for a in record.actions)

    expected: dict[int, tuple] = {int(sample.time[i]): () for i in rows}
    for trade in backtest.trades:
        for when, kind in ((trade.entry_decision_time, "open"), (trade.exit_decision_time, "close")):
            if when in expected:
                reason = trade.entry_reason if kind == "open" else trade.exit_reason
                expected[when] = expected[when] + ((kind, trade.type, reason),)
    assert any(expected.values()), "the chosen stretch must hold decisions that act"
    assert {t: tuple(sorted(a)) for t, a in replayed.items()} == {t: tuple(sorted(a)) for t, a in expected.items()}
