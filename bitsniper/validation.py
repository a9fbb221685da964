"""Candle checks with Great Expectations before any decision (design.md: fail closed).

The suite lives in ``include/gx/candles_suite.json`` so it can be read and changed without code. Columns
the suite needs but a candle table does not carry (offset from the 15-minute grid, step between candles in
the decision window) are derived here. Expectations of severity ``critical`` fail the run; a hole in the
decision window is ``warning`` by default because spec T5 keeps exits working across holes (the engine
takes no entry there) — ``fail_on_window_hole`` makes it critical.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bitsniper.candles import Candles, ms_to_iso
from bitsniper.lazy_imports import lazily

__all__ = ["ValidationReport", "CheckFailure", "validate_candles", "SUITE_PATH"]

SUITE_PATH = Path(__file__).resolve().parents[1] / "include" / "gx" / "candles_suite.json"
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One expectation that did not hold."""

    expectation: str
    column: str | None
    severity: str
    observed: str

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        return f"{self.expectation}{where} ({self.severity}): {self.observed}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What the suite said about one batch of candles; ``passed`` is False when a critical check failed."""

    passed: bool
    expected_last_ms: int
    rows: int
    failures: tuple[CheckFailure, ...] = field(default=())
    warnings: tuple[CheckFailure, ...] = field(default=())
    evaluated: int = 0

    def summary(self) -> str:
        state = "passed" if self.passed else "FAILED"
        text = f"candle checks {state} for N-1 = {ms_to_iso(self.expected_last_ms)} ({self.rows} candles, {self.evaluated} checks)"
        details = [f.describe() for f in self.failures + self.warnings]
        return text + ("; " + "; ".join(details) if details else "")

    def to_json(self) -> dict[str, Any]:
        as_dict = lambda f: {"expectation": f.expectation, "column": f.column, "severity": f.severity, "observed": f.observed}  # noqa: E731
        return {
            "passed": self.passed,
            "expected_last": ms_to_iso(self.expected_last_ms),
            "rows": self.rows,
            "evaluated": self.evaluated,
            "failures": [as_dict(f) for f in self.failures],
            "warnings": [as_dict(f) for f in self.warnings],
        }


@lru_cache(maxsize=1)
def _context_and_batch_definition():  # type: ignore[no-untyped-def]
    """One ephemeral GX context per process: GX takes seconds to import and set up."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # GX logs ~150 INFO lines of its own set-up ("Skipping registering function ...") on import: they
    # would bury the task's own log in the UI. Its warnings and errors still show.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with lazily("scipy", "altair"):  # imported by GX, used by none of the suite's expectations
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("bitsniper").add_dataframe_asset("candles").add_batch_definition_whole_dataframe("all")
    )
    return context, batch_definition


def _load_suite(fail_on_window_hole: bool):  # type: ignore[no-untyped-def]
    import great_expectations as gx

    spec = json.loads(SUITE_PATH.read_text())
    if fail_on_window_hole:
        for expectation in spec["expectations"]:
            if expectation.get("kwargs", {}).get("column") == "window_step_ms":
                expectation["severity"] = "critical"
    spec.pop("meta", None)
    return gx.ExpectationSuite(**spec)


def _frame(candles: Candles, interval_ms: int, window: int) -> pd.DataFrame:
    table = candles.to_frame()
    table["grid_offset_ms"] = table["timestamp"] % interval_ms
    step = np.diff(candles.time, prepend=candles.time[:1] - interval_ms)
    in_window = np.arange(len(candles)) >= len(candles) - window + 1  # steps inside the last `window` rows
    table["window_step_ms"] = np.where(in_window, step, interval_ms)
    return table


def validate_candles(
    candles: Candles,
    expected_last_ms: int,
    interval_ms: int,
    window: int = 2,
    fail_on_window_hole: bool = False,
) -> ValidationReport:
    """Run the candle suite; the last candle must be N-1 and the ``window`` last candles hole-free."""
    if len(candles) == 0:
        failure = CheckFailure("expect_table_row_count_to_be_between", None, "critical", "no candles")
        return ValidationReport(False, expected_last_ms, 0, (failure,), evaluated=1)
    _, batch_definition = _context_and_batch_definition()
    suite = _load_suite(fail_on_window_hole)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": _frame(candles, interval_ms, window)})
    result = batch.validate(
        suite,
        expectation_parameters={"expected_last_ms": int(expected_last_ms), "interval_ms_set": [int(interval_ms)]},
    )
    failures: list[CheckFailure] = []
    warnings: list[CheckFailure] = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        severity = str(getattr(config, "severity", "critical") or "critical").split(".")[-1].lower()
        observed = item.result.get("observed_value")
        if observed is None:
            observed = f"{item.result.get('unexpected_count')} unexpected, e.g. {item.result.get('partial_unexpected_list', [])[:3]}"
        column = config.kwargs.get("column")
        if column is None and "column_A" in config.kwargs:
            column = f"{config.kwargs['column_A']} vs {config.kwargs['column_B']}"
        failure = CheckFailure(config.type, column, severity, str(observed))
        (warnings if severity != "critical" else failures).append(failure)
    report = ValidationReport(
        passed=not failures,
        expected_last_ms=int(expected_last_ms),
        rows=len(candles),
        failures=tuple(failures),
        warnings=tuple(warnings),
        evaluated=len(result.results),
    )
    _LOG.info(report.summary())
    return report
