"""Configuration: the spec's defaults, BITSNIPER_* variables, and errors that name the setting."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from bitsniper.config import ENV_PREFIX, Settings, StrategyParams, load_settings, parse_overrides, strategy_params
from bitsniper.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No BITSNIPER_* variable from the machine may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    yield


def config_error(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**values)
    return str(caught.value)


# ---------------------------------------------------------------- defaults


def test_defaults_are_the_spec_values() -> None:
    s = load_settings()
    assert (s.strategy, s.symbol, s.candle_minutes, s.candle_ms) == ("vi", "PF_XBTUSD", 15, 900_000)  # T1
    assert (s.rsi_period, s.atr_period, s.vi_mults) == (40, 28, (19.0, 10.0, 6.0))  # I1-I3
    assert s.min_history_candles == 6000  # I3
    assert (s.short_rsi_max, s.long_rsi_min, s.vi1_lock_hours) == (50.0, 45.0, 72.0)  # E1-E5
    assert (s.leverage, s.fee_buffer, s.size_step_btc, s.min_size_btc) == (10.0, 0.005, 0.0001, 0.0001)  # E6
    assert s.long_target_rsi_edges == (50.0, 55.0, 60.0, 65.0, 70.0)  # X1 table
    assert s.long_vi1_targets == (20.0, 15.0, 9.0, 4.5, 3.0, 1.0)
    assert s.long_vi2_targets == (9.0, 6.5, 3.5, 1.25, 0.5, 0.5)
    assert s.long_reentry_targets == (18.0, 13.0, 7.0, 2.5, 1.0, 1.0)
    assert s.short_target_rsi_edges == (30.0, 35.0, 40.0, 45.0)
    assert s.short_targets == (1.0, 1.75, 3.5, 7.5, 10.0)
    assert (s.no_exit_hours, s.short_emergency_rsi) == (7.0, 18.0)  # X3, X4
    assert (s.short_check_hours, s.short_check_pct, s.short_check_every_decision) == (3.0, 1.0, False)  # X5
    assert (s.mode, s.live_trading_enabled) == ("paper", False)


def test_rsi_volume_defaults_are_the_spec_values() -> None:
    s = load_settings(strategy="rsi_volume")
    assert (s.rv_rsi_period, s.active_rsi_period, s.rv_min_volume) == (12, 12, 90.0)
    assert (s.rv_safety_high, s.rv_safety_low, s.rv_safety_reset) == (86.0, 10.0, 50.0)  # L0
    assert (s.rv_long1_vol_ratio_min, s.rv_long1_vol_ratio_max) == (0.3, 1.8)  # L1
    assert (s.rv_long1_rsi_prev_min, s.rv_long1_rsi_prev_max, s.rv_long1_rsi_rise_min) == (10.0, 26.0, 4.0)
    assert (s.rv_long1_rsi_max, s.rv_long1_exit_rsi, s.rv_long1_stop_pct) == (40.0, 40.0, 0.7)
    assert (s.rv_long2_rsi_prev_min, s.rv_long2_rsi_prev_max, s.rv_long2_rsi_drop_min) == (72.0, 86.0, 2.5)  # L2
    assert (s.rv_long2_exit_delta, s.rv_long2_stop_pct, s.rv_long2_reset_rsi) == (1.5, 1.1, 50.0)
    assert (s.rv_short_vol_ratio_min, s.rv_short_vol_ratio_max) == (0.7, 1.0)  # L3
    assert (s.rv_short_rsi_prev_min, s.rv_short_rsi_prev_max, s.rv_short_rsi_drop_min) == (72.0, 83.0, 3.5)
    assert (s.rv_short_rsi_min, s.rv_short_exit_rsi, s.rv_short_stop_pct) == (60.0, 60.0, 0.8)


def test_strategy_params_carry_the_same_values_as_settings() -> None:
    s = load_settings(rsi_period=14)
    params = s.strategy_params()
    assert type(params) is StrategyParams
    assert params.model_dump() == {name: getattr(s, name) for name in StrategyParams.model_fields}
    assert params.rsi_period == 14


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.leverage = 5.0  # type: ignore[misc]


# ---------------------------------------------------------------- environment


def test_bitsniper_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITSNIPER_RSI_PERIOD", "14")
    monkeypatch.setenv("BITSNIPER_VI1_MULT", "18.5")
    monkeypatch.setenv("bitsniper_strategy", "rsi_volume")  # case-insensitive
    monkeypatch.setenv("BITSNIPER_SHORT_TARGETS", "[1, 2, 3, 4, 5]")
    monkeypatch.setenv("BITSNIPER_SHORT_CHECK_EVERY_DECISION", "true")
    s = load_settings()
    assert (s.rsi_period, s.vi1_mult, s.strategy) == (14, 18.5, "rsi_volume")
    assert s.short_targets == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert s.short_check_every_decision is True


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITSNIPER_LEVERAGE", "5")
    assert load_settings().leverage == 5.0
    assert load_settings(leverage=3).leverage == 3.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BITSNIPER_LEVERAGE", "ten"),
        ("BITSNIPER_LEVERAGE", "0"),
        ("BITSNIPER_RSI_PERIOD", "1"),
        ("BITSNIPER_FEE_BUFFER", "1.5"),
        ("BITSNIPER_STRATEGY", "martingale"),
        ("BITSNIPER_MODE", "yolo"),
        ("BITSNIPER_VI2_MULT", "-10"),
    ],
)
def test_bad_environment_value_raises_config_error_naming_setting_and_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    message = config_error()
    setting = variable.removeprefix(ENV_PREFIX).lower()
    assert f"invalid setting {setting} ({variable})" in message


@pytest.mark.parametrize(
    ("setting", "value"),
    [("atr_period", 0), ("vi3_mult", 0), ("leverage", 101), ("no_exit_hours", -1), ("candle_minutes", "x"),
     ("symbol", ""), ("min_history_candles", -5)],
)
def test_bad_keyword_value_raises_config_error_naming_setting(setting: str, value: object) -> None:
    assert f"invalid setting {setting}" in config_error(**{setting: value})
    with pytest.raises(ConfigError, match=f"invalid setting {setting}"):
        strategy_params(**{setting: value})


def test_unknown_keyword_is_refused_naming_it() -> None:
    assert "rsi_periode" in config_error(rsi_periode=12)


# ---------------------------------------------------------------- cross-field rules


@pytest.mark.parametrize(
    ("values", "first", "second"),
    [
        ({"long_vi1_targets": (1.0, 2.0)}, "long_vi1_targets", "long_target_rsi_edges"),
        ({"short_target_rsi_edges": (30.0, 40.0)}, "short_targets", "short_target_rsi_edges"),
        ({"rv_long1_rsi_prev_min": 30.0}, "rv_long1_rsi_prev_min", "rv_long1_rsi_prev_max"),
        ({"rv_short_vol_ratio_min": 1.2}, "rv_short_vol_ratio_min", "rv_short_vol_ratio_max"),
        ({"rv_safety_low": 90.0}, "rv_safety_low", "rv_safety_high"),
        ({"min_size_btc": 0.00005}, "min_size_btc", "size_step_btc"),
    ],
)
def test_cross_field_error_names_both_settings(values: dict[str, object], first: str, second: str) -> None:
    message = config_error(**values)
    assert first in message and second in message
    with pytest.raises(ConfigError, match=first):
        strategy_params(**values)


def test_unsorted_rsi_edges_are_refused() -> None:
    assert "long_target_rsi_edges must be strictly increasing" in config_error(
        long_target_rsi_edges=(50.0, 60.0, 55.0, 65.0, 70.0)
    )


def test_live_mode_without_live_switch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(mode="live")
    assert "live_trading_enabled" in message and "mode=live" in message
    monkeypatch.setenv("BITSNIPER_MODE", "live")
    assert "live_trading_enabled" in config_error()
    monkeypatch.setenv("BITSNIPER_LIVE_TRADING_ENABLED", "true")
    assert load_settings().mode == "live"


def test_database_url_is_kept_secret() -> None:
    s = load_settings(database_url="postgresql://bot:hunter2@db/bitsniper")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert s.database_url.get_secret_value().endswith("@db/bitsniper")


# ---------------------------------------------------------------- --set overrides


def test_parse_overrides_gives_values_that_load_settings_converts() -> None:
    values = parse_overrides(["rsi_period=14", " leverage = 5 ", "short_targets=[1,2,3,4,5]"])
    assert values == {"rsi_period": "14", "leverage": "5", "short_targets": [1, 2, 3, 4, 5]}
    s = load_settings(**values)
    assert (s.rsi_period, s.leverage, s.short_targets) == (14, 5.0, (1.0, 2.0, 3.0, 4.0, 5.0))


def test_parse_overrides_refuses_a_broken_list_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="invalid setting short_targets"):
        parse_overrides(["short_targets=[1,2"])


def test_parse_overrides_refuses_unknown_name_listing_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides(["rsi_period=14", "rsi_lenght=12"])
    message = str(caught.value)
    assert "unknown setting 'rsi_lenght'" in message
    listed = message.split("valid names: ", 1)[1].split(", ")
    assert listed == sorted(Settings.model_fields)
    assert "rsi_period" in listed and "live_trading_enabled" in listed


@pytest.mark.parametrize("pair", ["rsi_period", "=14", ""])
def test_parse_overrides_refuses_pairs_without_name_and_value(pair: str) -> None:
    with pytest.raises(ConfigError, match="name=value"):
        parse_overrides([pair])
