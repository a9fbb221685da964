"""Build what the pipeline steps need from the settings: store, market data, trading venue.

Routing (design.md, "Paper first"): ``mode=live`` sends to the configured venue and needs keys plus the
explicit switch (checked by the settings); ``mode=paper`` fills against live prices in the store, except
on the local simulator, which is itself a paper venue and receives the orders (so the offline stack
shows them end to end).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from bitsniper.alerts import Alert
from bitsniper.config import Settings
from bitsniper.errors import ConfigError
from bitsniper.exchange.base import Exchange
from bitsniper.exchange.kraken_futures import LIVE_URL, KrakenFuturesConfig, KrakenFuturesExchange
from bitsniper.pipeline import Services
from bitsniper.store.db import make_session_factory

__all__ = ["build_services", "venue_url", "SIMULATOR_URL"]

SIMULATOR_URL = "http://127.0.0.1:8787"


def venue_url(settings: Settings) -> str:
    if settings.exchange_url:
        return settings.exchange_url
    return SIMULATOR_URL if settings.exchange == "simulator" else LIVE_URL


def _client(settings: Settings, credentials: tuple[SecretStr, SecretStr] | None) -> KrakenFuturesExchange:
    key, secret = credentials or (SecretStr(""), SecretStr(""))
    config = KrakenFuturesConfig(
        api_key=key, api_secret=secret, url=venue_url(settings),
        http_timeout_secs=settings.exchange_http_timeout_secs, resolution=f"{settings.candle_minutes}m",
    )
    return KrakenFuturesExchange(config)


def build_services(
    settings: Settings,
    *,
    credentials: tuple[SecretStr, SecretStr] | None = None,
    notify: Callable[[Alert], None] | None = None,
    factory=None,  # type: ignore[no-untyped-def]
) -> Services:
    """Wire the store, the market-data client and (lazily) the trading venue."""
    factory = factory or make_session_factory(settings.database_url.get_secret_value())
    market = _client(settings, credentials)
    sends_to_venue = settings.mode == "live" or settings.exchange == "simulator"

    def trading() -> Exchange:
        if sends_to_venue:
            if credentials is None:
                raise ConfigError(
                    f"exchange keys are missing: set the Airflow connection {settings.kraken_conn_id!r} "
                    "(login = key, password = secret) or KRAKEN_API_KEY / KRAKEN_API_SECRET"
                )
            return market
        from bitsniper.exchange.paper import PaperExchange

        return PaperExchange(factory=factory, market=market, settings=settings)

    return Services(settings=settings, factory=factory, market=market, trading=trading, notify=notify or (lambda alert: None))
