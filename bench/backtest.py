"""Benchmark: the full ``vi`` backtest against backtesting.py's SMA cross on the same candles (issue 3).

Run: ``.venv/bin/python bench/backtest.py [--candles FILE] [--repeat 3]``. Both sides get the candles
already in memory; ours includes the indicators, the engine at every candle and the accounting (no
report), backtesting.py includes its indicators and order simulation. Prints candles/s and the ratio
(target: >= 3x).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import pandas as pd

from bitsniper.backtest.runner import costs_from_settings, run_backtest
from bitsniper.candles import Candles, read_candles_csv
from bitsniper.config import load_settings
from bitsniper.strategy import build_frame

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would garble the figures
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_btcusdt_15m_2024-01_2026-02.csv.gz"


def ours(candles: Candles) -> tuple[float, int]:
    settings = load_settings()
    params = settings.strategy_params()
    start = time.perf_counter()
    frame = build_frame(candles, params)
    result = run_backtest(frame, params, costs_from_settings(settings))
    return time.perf_counter() - start, len(result.trades)


def theirs(candles: Candles) -> tuple[float, int]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        fast = 10
        slow = 20

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.fast)
            self.sma2 = self.I(SMA, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    data = pd.DataFrame(
        {"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,
         "Volume": candles.volume},
        index=pd.to_datetime(candles.time, unit="ms", utc=True).tz_localize(None),
    )
    backtest = Backtest(data, SmaCross, cash=100_000_000, commission=0.0005, finalize_trades=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = backtest.run()
    return time.perf_counter() - start, int(stats["# Trades"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candles", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    candles = read_candles_csv(args.candles)
    n = len(candles)
    cold, _ = ours(candles)  # first call loads the compiled indicator kernels
    our_times = [ours(candles) for _ in range(args.repeat)]
    their_times = [theirs(candles) for _ in range(args.repeat)]
    our_best = min(s for s, _ in our_times)
    their_best = min(s for s, _ in their_times)
    print(f"candles: {n} from {args.candles.name}")
    print(f"bitsniper vi backtest : {our_best:.3f} s  {n / our_best:12,.0f} candles/s  "
          f"({our_times[0][1]} trades; cold first run {cold:.3f} s)")
    print(f"backtesting.py SMA(10/20) cross : {their_best:.3f} s  {n / their_best:12,.0f} candles/s  "
          f"({their_times[0][1]} trades)")
    print(f"ratio: {their_best / our_best:.1f}x (target >= 3x), best of {args.repeat}")


if __name__ == "__main__":
    main()
