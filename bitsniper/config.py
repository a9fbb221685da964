"""All configuration in one place.

Every strategy parameter is a named setting carrying the default of ``docs/strategy.md`` (the rule id is
in its description). ``StrategyParams`` is what the pure engine reads; ``Settings`` adds the operational
settings and reads ``BITSNIPER_*`` environment variables. A bad value raises ``ConfigError`` naming the
setting, so start-up stops before anything runs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bitsniper.errors import ConfigError

__all__ = ["StrategyParams", "Settings", "load_settings", "strategy_params", "parse_overrides", "ENV_PREFIX"]

ENV_PREFIX = "BITSNIPER_"

StrategyName = Literal["vi", "rsi_volume"]
Mode = Literal["paper", "live"]

_Pos = Field(gt=0)


class StrategyParams(BaseModel):
    """The strategy's parameters, flat and named as in the spec; defaults are the spec's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: StrategyName = Field("vi", description="Rule set: 'vi' (spec §3-§4) or 'rsi_volume' (§5).")
    symbol: str = Field("PF_XBTUSD", min_length=1, description="T1: Kraken Futures instrument.")
    candle_minutes: int = Field(15, gt=0, description="T1: candle resolution in minutes.")

    # Indicators (I1-I3)
    rsi_period: int = Field(40, ge=2, description="I1: RSI period of strategy 'vi'.")
    atr_period: int = Field(28, ge=2, description="I2: ATR period of the volatility indexes.")
    vi1_mult: float = Field(19.0, gt=0, description="I3: VI1 ATR multiplier.")
    vi2_mult: float = Field(10.0, gt=0, description="I3: VI2 ATR multiplier.")
    vi3_mult: float = Field(6.0, gt=0, description="I3: VI3 ATR multiplier.")
    min_history_candles: int = Field(
        6000, ge=0, description="I3: closed candles to load live so every VI has flipped (~62 days)."
    )

    # Entries (E1-E6)
    short_rsi_max: float = Field(50.0, description="E1: SHORT needs RSI(N-1) <= this.")
    long_rsi_min: float = Field(45.0, description="E2-E4: LONGs need RSI(N-1) >= this.")
    vi1_lock_hours: float = Field(72.0, ge=0, description="E5: no entry against a VI1 flip younger than this.")
    leverage: float = Field(10.0, gt=0, le=100, description="E6: leverage used for sizing.")
    fee_buffer: float = Field(0.005, ge=0, lt=1, description="E6: share of margin kept for the taker fee.")
    size_step_btc: float = Field(0.0001, gt=0, description="T1/E6: order size step in BTC.")
    min_size_btc: float = Field(0.0001, gt=0, description="T1/E6: minimum order size in BTC.")

    # Exits (X1-X5)
    long_target_rsi_edges: tuple[float, ...] = Field(
        (50.0, 55.0, 60.0, 65.0, 70.0),
        description="X1: entry-RSI bucket edges of the LONG tables: [45,50) [50,55) ... [70, inf).",
    )
    long_vi1_targets: tuple[float, ...] = Field((20.0, 15.0, 9.0, 4.5, 3.0, 1.0), description="X1: LONG_VI1 deltas.")
    long_vi2_targets: tuple[float, ...] = Field((9.0, 6.5, 3.5, 1.25, 0.5, 0.5), description="X1: LONG_VI2 deltas.")
    long_reentry_targets: tuple[float, ...] = Field(
        (18.0, 13.0, 7.0, 2.5, 1.0, 1.0), description="X1: LONG_REENTRY deltas."
    )
    short_target_rsi_edges: tuple[float, ...] = Field(
        (30.0, 35.0, 40.0, 45.0),
        description="X1: entry-RSI bucket edges of the SHORT table: <30 [30,35) [35,40) [40,45) [45,50].",
    )
    short_targets: tuple[float, ...] = Field((1.0, 1.75, 3.5, 7.5, 10.0), description="X1: SHORT deltas, low to high RSI.")
    no_exit_hours: float = Field(7.0, ge=0, description="X3: no exit this long after entry (not LONG_VI2).")
    short_emergency_rsi: float = Field(18.0, gt=0, description="X4: SHORT exits when RSI rose more than this.")
    short_check_hours: float = Field(3.0, ge=0, description="X5: when the SHORT adverse-move check runs.")
    short_check_pct: float = Field(1.0, gt=0, description="X5: adverse move (percent of entry close) that exits.")
    short_check_every_decision: bool = Field(
        False, description="X5: apply the check at every decision from short_check_hours on, not once."
    )

    # Strategy rsi_volume (L0-L4)
    rv_rsi_period: int = Field(12, ge=2, description="§5: RSI period of strategy 'rsi_volume'.")
    rv_min_volume: float = Field(90.0, ge=0, description="L1-L3: vol(N-1) >= this.")
    rv_safety_high: float = Field(86.0, description="L0: RSI above this blocks entries...")
    rv_safety_low: float = Field(10.0, description="L0: RSI below this blocks entries...")
    rv_safety_reset: float = Field(50.0, description="L0: ...until RSI comes back to this level.")
    rv_long1_vol_ratio_min: float = Field(0.3, ge=0, description="L1: vol(N-1)/vol(N-2) lower bound.")
    rv_long1_vol_ratio_max: float = Field(1.8, ge=0, description="L1: vol(N-1)/vol(N-2) upper bound.")
    rv_long1_rsi_prev_min: float = Field(10.0, description="L1: RSI(N-2) lower bound.")
    rv_long1_rsi_prev_max: float = Field(26.0, description="L1: RSI(N-2) upper bound.")
    rv_long1_rsi_rise_min: float = Field(4.0, description="L1: RSI(N-1) - RSI(N-2) >= this.")
    rv_long1_rsi_max: float = Field(40.0, description="L1: RSI(N-1) < this.")
    rv_long1_exit_rsi: float = Field(40.0, description="L1: exit when RSI(N-1) >= this.")
    rv_long1_stop_pct: float = Field(0.7, gt=0, description="L1: stop when close falls this percent.")
    rv_long2_rsi_prev_min: float = Field(72.0, description="L2: RSI(N-2) lower bound.")
    rv_long2_rsi_prev_max: float = Field(86.0, description="L2: RSI(N-2) upper bound.")
    rv_long2_rsi_drop_min: float = Field(2.5, description="L2: RSI(N-2) - RSI(N-1) >= this.")
    rv_long2_exit_delta: float = Field(1.5, description="L2: exit when RSI(N-1) >= entry RSI + this.")
    rv_long2_stop_pct: float = Field(1.1, gt=0, description="L2: stop when close falls this percent.")
    rv_long2_reset_rsi: float = Field(50.0, description="L2/L4: a new long2 needs RSI below this since.")
    rv_short_vol_ratio_min: float = Field(0.7, ge=0, description="L3: vol(N-1)/vol(N-2) lower bound.")
    rv_short_vol_ratio_max: float = Field(1.0, ge=0, description="L3: vol(N-1)/vol(N-2) upper bound (exclusive).")
    rv_short_rsi_prev_min: float = Field(72.0, description="L3: RSI(N-2) lower bound.")
    rv_short_rsi_prev_max: float = Field(83.0, description="L3: RSI(N-2) upper bound.")
    rv_short_rsi_drop_min: float = Field(3.5, description="L3: RSI(N-2) - RSI(N-1) >= this.")
    rv_short_rsi_min: float = Field(60.0, description="L3: RSI(N-1) > this.")
    rv_short_exit_rsi: float = Field(60.0, description="L3: exit when RSI(N-1) <= this.")
    rv_short_stop_pct: float = Field(0.8, gt=0, description="L3: stop when close rises this percent.")

    @model_validator(mode="after")
    def _check_cross_fields(self) -> "StrategyParams":
        """Cross-field errors name both settings."""
        for targets in ("long_vi1_targets", "long_vi2_targets", "long_reentry_targets"):
            if len(getattr(self, targets)) != len(self.long_target_rsi_edges) + 1:
                raise ValueError(f"{targets} needs one value more than long_target_rsi_edges")
        if len(self.short_targets) != len(self.short_target_rsi_edges) + 1:
            raise ValueError("short_targets needs one value more than short_target_rsi_edges")
        for edges in ("long_target_rsi_edges", "short_target_rsi_edges"):
            values = getattr(self, edges)
            if any(b <= a for a, b in zip(values, values[1:])):
                raise ValueError(f"{edges} must be strictly increasing")
        for low, high in (
            ("rv_long1_vol_ratio_min", "rv_long1_vol_ratio_max"),
            ("rv_long1_rsi_prev_min", "rv_long1_rsi_prev_max"),
            ("rv_long2_rsi_prev_min", "rv_long2_rsi_prev_max"),
            ("rv_short_vol_ratio_min", "rv_short_vol_ratio_max"),
            ("rv_short_rsi_prev_min", "rv_short_rsi_prev_max"),
            ("rv_safety_low", "rv_safety_high"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        if self.min_size_btc < self.size_step_btc:
            raise ValueError("min_size_btc must not be below size_step_btc")
        return self

    @property
    def candle_ms(self) -> int:
        return self.candle_minutes * 60_000

    @property
    def active_rsi_period(self) -> int:
        """The RSI period of the selected rule set (§5 thresholds were tuned on RSI(12))."""
        return self.rsi_period if self.strategy == "vi" else self.rv_rsi_period

    @property
    def vi_mults(self) -> tuple[float, float, float]:
        return (self.vi1_mult, self.vi2_mult, self.vi3_mult)


class Settings(BaseSettings, StrategyParams):
    """Strategy parameters plus how and where the bot runs, read from ``BITSNIPER_*``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False)

    mode: Mode = Field("paper", description="paper (default) or live; live also needs live_trading_enabled.")
    live_trading_enabled: bool = Field(False, description="The explicit switch without which nothing is sent live.")
    database_url: SecretStr = Field(
        SecretStr("sqlite:///bitsniper.db"),
        description="SQLAlchemy URL of the bot's store: SQLite file by default, PostgreSQL in production.",
    )
    # Backtest costs (issue 3): what the backtester charges for each fill and each hour held
    backtest_fee_rate: float = Field(0.0005, ge=0, lt=0.1, description="Backtest: taker fee per fill (0.05 %).")
    backtest_slippage_pct: float = Field(0.0, ge=0, lt=10, description="Backtest: adverse slippage per fill, percent.")
    backtest_funding_rate_hourly: float = Field(
        0.0, gt=-0.01, lt=0.01, description="Backtest: constant hourly funding rate; positive means longs pay shorts."
    )
    backtest_maintenance_margin_rate: float = Field(
        0.01, ge=0, lt=1, description="Backtest: maintenance margin rate of the isolated position (liquidation)."
    )
    # Pipeline (issue 5): where candles come from and where orders go
    exchange: Literal["kraken", "simulator"] = Field(
        "kraken", description="Market data and order venue: Kraken Futures, or the local simulator (offline runs)."
    )
    exchange_url: str | None = Field(
        None, description="Base URL of the venue; default https://futures.kraken.com, or http://127.0.0.1:8787 for the simulator."
    )
    exchange_http_timeout_secs: float = Field(10.0, gt=0, le=120, description="HTTP timeout of one exchange call.")
    kraken_conn_id: str = Field(
        "kraken_futures_default", description="Airflow connection holding the Kraken key (login) and secret (password)."
    )
    backfill_capital_usd: float = Field(
        10_000.0, gt=0, description="Backfills: margin assumed for sizing the decisions they record (no order is sent)."
    )
    validation_window_candles: int = Field(
        2, ge=2, description="T5/validation: the last candles that must follow each other without a hole (N-2, N-1)."
    )
    validation_recent_candles: int = Field(
        96, ge=2, description="Candles re-checked when the previous candle's checks passed (else the whole window)."
    )
    fail_on_window_hole: bool = Field(
        False, description="T5: fail the run on a hole in the decision window instead of alerting (exits then stop too)."
    )
    alert_telegram_conn_id: str = Field("telegram_default", description="Airflow connection of the Telegram alerts.")
    alert_smtp_conn_id: str = Field("smtp_default", description="Airflow connection of the email alerts.")
    alert_email_to: str | None = Field(None, description="Where email alerts go; unset means no email.")
    deadline_secs: int = Field(
        120, ge=10, le=900, description="Deadline alert: a run not finished this long after its candle closed alerts."
    )
    # Execution (issue 4): exactly-once orders, circuit breaker, paper trading
    order_lookup_timeout_secs: float = Field(
        10.0, gt=0, le=300, description="Exactly once: how long one run polls for an order whose reply was lost."
    )
    order_lookup_interval_secs: float = Field(0.5, gt=0, le=60, description="Exactly once: pause between lookups.")
    order_settle_secs: float = Field(
        30.0, gt=0, le=3600,
        description="Exactly once: an order found nowhere, with the position unchanged this long after sending, did not execute.",
    )
    order_process_before_secs: float = Field(
        20.0, gt=0, le=3600,
        description="Exactly once: Kraken's processBefore = send time + this; must be below order_settle_secs "
        "(the gap covers clock skew with Kraken), so an order is resent only after the earlier one's deadline.",
    )
    order_max_attempts: int = Field(
        3, ge=1, le=10, description="Exactly once: sends per action (each with its own cliOrdId) before giving up."
    )
    breaker_fail_max: int = Field(5, ge=1, description="Circuit breaker: consecutive transport failures that open it.")
    breaker_reset_timeout_secs: float = Field(
        300.0, gt=0, description="Circuit breaker: cool-down before one trial call (half-open)."
    )
    paper_fee_rate: float = Field(0.0005, ge=0, lt=0.1, description="Paper trading: taker fee per fill (0.05 %).")
    paper_initial_balance_usd: float = Field(10_000.0, gt=0, description="Paper trading: starting balance in USD.")
    # Monitoring (issue 5): the original bot's alerts, checked every 5 minutes by bitsniper_monitoring
    monitor_consecutive_errors: int = Field(
        10, ge=1, le=96, description="Monitoring: this many consecutive failed pipeline runs alert."
    )
    monitor_memory_mb: float = Field(1024.0, gt=0, description="Monitoring: RSS of any one Airflow/bot process above this alerts.")
    monitor_cpu_percent: float = Field(90.0, gt=0, le=100, description="Monitoring: host CPU use above this alerts.")
    monitor_cpu_sample_secs: float = Field(1.0, gt=0, le=30, description="Monitoring: how long the CPU use is measured.")
    monitor_stale_minutes: float = Field(
        60.0, gt=0, description="Monitoring: no decision of the trading mode for this long alerts (no successful run)."
    )
    monitor_restart_minutes: float = Field(
        60.0, gt=0, description="Monitoring: an Airflow component restarted by make run's stack within this window alerts."
    )
    # Operator control (issue 6): risk limits checked before every entry, kill switch, Telegram, webhook
    daily_loss_limit_pct: float | None = Field(
        5.0, gt=0, lt=100, description="Risk: no entry once equity is this percent below the UTC day's starting equity."
    )
    daily_profit_lock_pct: float | None = Field(
        None, gt=0, description="Risk: no entry once equity is this percent above the UTC day's start (unset: off)."
    )
    drawdown_kill_pct: float | None = Field(
        25.0, gt=0, lt=100, description="Risk: equity this percent below its peak turns the kill switch on."
    )
    loss_pause_streaks: tuple[int, ...] = Field(
        (3, 5), description="Risk: consecutive losing trades that pause entries (ladder, with loss_pause_hours)."
    )
    loss_pause_hours: tuple[float, ...] = Field(
        (1.0, 4.0), description="Risk: pause after each streak of loss_pause_streaks, counted from the last loss's exit."
    )
    max_position_notional_usd: float | None = Field(
        None, gt=0, description="Risk: no entry when equity x leverage (the E6 size) exceeds this notional (unset: off)."
    )
    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("telegram_bot_token", "BITSNIPER_TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN"),
        description="Telegram bot (`bitsniper telegram`) and CLI notifications: the bot's token.",
    )
    telegram_allowed_chat_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices(
            "telegram_allowed_chat_ids", "BITSNIPER_TELEGRAM_ALLOWED_CHAT_IDS", "TELEGRAM_ALLOWED_CHAT_IDS"
        ),
        description="Telegram: the only chats obeyed (comma-separated ids); they also receive CLI notifications.",
    )
    telegram_api_url: str | None = Field(
        None, description="Telegram Bot API base URL (default https://api.telegram.org/bot); a local stand-in in tests."
    )
    alert_webhook_url: SecretStr | None = Field(
        None, description="Alerts: URL receiving each alert as a JSON POST (secret: such URLs often carry a token)."
    )

    @field_validator("telegram_allowed_chat_ids", mode="before")
    @classmethod
    def _split_chat_ids(cls, value: Any) -> Any:
        """``TELEGRAM_ALLOWED_CHAT_IDS=123,-100456`` (comma-separated, as in the seed bot) or a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check_loss_ladder(self) -> "Settings":
        if len(self.loss_pause_streaks) != len(self.loss_pause_hours):
            raise ValueError("loss_pause_streaks and loss_pause_hours need the same number of values")
        if any(n < 1 for n in self.loss_pause_streaks) or any(h < 0 for h in self.loss_pause_hours):
            raise ValueError("loss_pause_streaks must be >= 1 and loss_pause_hours >= 0")
        return self

    @model_validator(mode="after")
    def _check_live_switch(self) -> "Settings":
        if self.mode == "live" and not self.live_trading_enabled:
            raise ValueError("mode=live needs live_trading_enabled=true (BITSNIPER_LIVE_TRADING_ENABLED)")
        return self

    @model_validator(mode="after")
    def _check_order_deadline(self) -> "Settings":
        """An order may be resent only once the earlier attempt's processBefore has passed (issue 4)."""
        if self.order_process_before_secs >= self.order_settle_secs:
            raise ValueError("order_process_before_secs must be below order_settle_secs")
        return self

    def strategy_params(self) -> StrategyParams:
        return strategy_params(**{name: getattr(self, name) for name in StrategyParams.model_fields})


def _describe(error: ValidationError, env: bool) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "(settings)"
        label = f"{name} ({ENV_PREFIX}{name.upper()})" if env and item["loc"] else name
        lines.append(f"invalid setting {label}: {item['msg']}")
    return "; ".join(lines)


def strategy_params(**values: Any) -> StrategyParams:
    """Build strategy parameters, turning a validation error into a ``ConfigError`` naming the setting."""
    try:
        return StrategyParams(**values)
    except ValidationError as error:
        raise ConfigError(_describe(error, env=False)) from None


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment (and overrides); a bad value stops start-up."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error, env=True)) from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``name=value`` pairs into a dict; unknown names are refused with the list of valid names.

    A value in brackets is a JSON list (``short_targets=[1,1.75,3.5,7.5,10]``), as in the environment.
    """
    values: dict[str, Any] = {}
    valid = sorted(Settings.model_fields)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--set expects name=value, got {pair!r}")
        if name not in Settings.model_fields:
            raise ConfigError(f"unknown setting {name!r}; valid names: {', '.join(valid)}")
        value = value.strip()
        if value.startswith("["):
            try:
                values[name] = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError(f"invalid setting {name}: {value!r} is not a JSON list") from None
        else:
            values[name] = value
    return values
