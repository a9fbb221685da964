"""Raw Kraken Futures client on python-kraken-sdk: one method per endpoint, errors classified in one place.

SDK 3.5.1 quirks handled here (see docs/kraken_futures.md):
- it never retries; a non-200 reply raises a bare ``Exception("<status> - <text>")``;
- a 200 reply with ``error`` raises only for a few mapped codes, every other error comes back as a dict,
  so ``result == "error"`` is checked here;
- ``get_ohlc`` silently drops ``extra_params`` (no ``count``) and ``set_leverage_preference`` is wrapped in
  ``lru_cache`` (a second identical call never reaches the exchange): both go through ``client.request``;
- the timeout is the client's ``TIMEOUT`` attribute, set from ``http_timeout_secs``.

Classification (what the caller may do next):

============================================  ==========================  ==========================
failure                                       reads                       sendorder
============================================  ==========================  ==========================
connection refused / connect timeout          TransientExchangeError      TransientExchangeError
read timeout, dropped connection              TransientExchangeError      OrderStateUnknown
HTTP 429                                      TransientExchangeError      TransientExchangeError
HTTP 500, 502, 503, 504, any 5xx              TransientExchangeError      OrderStateUnknown
malformed JSON                                TransientExchangeError      OrderStateUnknown
apiLimitExceeded, Unavailable, nonce*,        TransientExchangeError      TransientExchangeError
marketUnavailable
Server Error, unknownError                    TransientExchangeError      OrderStateUnknown
authenticationError, invalidArgument, ...     ExchangeRequestRefused      ExchangeRequestRefused
an error code we do not know                  ExchangeReplyError          OrderStateUnknown
============================================  ==========================  ==========================

A 5xx on ``sendorder`` may come from a proxy or load balancer after the order reached Kraken (a 502/504
when the upstream reply was lost, a 503 from an overloaded edge that had forwarded it), so it is never proof
that nothing was sent: the order is looked up. A 429 and ``apiLimitExceeded`` are Kraken refusing before it
processes anything: not sent.

Secrets live only inside the SDK clients: messages name the endpoint and the code, never headers or keys.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

import requests
from kraken import exceptions as kraken_exceptions
from kraken.futures import Market, Trade, User

from bitsniper.errors import (
    ConfigError,
    ExchangeReplyError,
    ExchangeRequestRefused,
    OrderRefused,
    OrderStateUnknown,
    TransientExchangeError,
)

__all__ = ["KrakenFuturesHttp", "RETRYABLE_CODES", "AMBIGUOUS_CODES", "FINAL_CODES", "classify_error_code"]

log = logging.getLogger("bitsniper.exchange.kraken")

RETRYABLE_CODES = frozenset(
    {"apiLimitExceeded", "Unavailable", "nonceBelowThreshold", "nonceDuplicate", "marketUnavailable"}
)
# The server failed while handling the request: a read may be retried, an order may have gone through.
AMBIGUOUS_CODES = frozenset({"Server Error", "unknownError"})
FINAL_CODES = frozenset(
    {
        "authenticationError",
        "invalidArgument",
        "requiredArgumentMissing",
        "invalidUnit",
        "invalidAccount",
        "notFound",
        "orderForEditNotFound",
        "insufficientAvailableFunds",
        "accountInactive",
    }
)
_RATE_LIMITED_HTTP = 429  # refused before processing: not sent, even on sendorder
_SDK_RAISED_SEND_STATUSES = frozenset({"insufficientAvailableFunds", "notFound"})
_SDK_EXCEPTION_CODES: dict[type[BaseException], str] = {
    kraken_exceptions.KrakenAuthenticationError: "authenticationError",
    kraken_exceptions.KrakenInsufficientAvailableFundsError: "insufficientAvailableFunds",
    kraken_exceptions.KrakenRequiredArgumentMissingError: "requiredArgumentMissing",
    kraken_exceptions.KrakenApiLimitExceededError: "apiLimitExceeded",
    kraken_exceptions.KrakenInvalidUnitError: "invalidUnit",
    kraken_exceptions.KrakenUnavailableError: "Unavailable",
    kraken_exceptions.KrakenInvalidAccountError: "invalidAccount",
    kraken_exceptions.KrakenNotFoundError: "notFound",
    kraken_exceptions.KrakenOrderForEditNotFoundError: "orderForEditNotFound",
}


def classify_error_code(endpoint: str, code: str, *, sends_order: bool) -> Exception:
    """The exception for a Kraken error code (``{"result":"error","error":code}``)."""
    if code in RETRYABLE_CODES:
        return TransientExchangeError(f"{endpoint}: {code}, retry later")
    if code in AMBIGUOUS_CODES:
        if sends_order:
            return OrderStateUnknown(f"{endpoint}: {code}; the order may or may not exist")
        return TransientExchangeError(f"{endpoint}: {code}, retry later")
    if code in FINAL_CODES:
        return ExchangeRequestRefused(endpoint, code)
    if sends_order:
        return OrderStateUnknown(f"{endpoint}: unknown error code {code!r}; the order may or may not exist")
    return ExchangeReplyError(f"{endpoint}: unknown error code {code!r}")


def _never_reached_server(error: requests.ConnectionError) -> bool:
    """True when the connection was never made (refused, DNS, connect timeout): nothing was sent."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        name = type(current).__name__
        if name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError"):
            return True
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


def _http_status(error: Exception) -> int | None:
    """The status of the SDK's bare ``Exception("<status> - <text>")``, or None for anything else."""
    head = str(error).split(" - ", 1)[0].strip()
    return int(head) if head.isdigit() and len(head) == 3 else None


class KrakenFuturesHttp:
    """python-kraken-sdk's Market/Trade/User pointed at one base URL, returning raw reply dicts."""

    def __init__(self, url: str, api_key: str, api_secret: str, http_timeout_secs: float = 10.0) -> None:
        if api_secret:
            try:
                base64.b64decode(api_secret, validate=True)
            except binascii.Error:
                raise ConfigError("the Kraken API secret is not valid base64") from None
        self.url = url
        self._market = Market(key=api_key, secret=api_secret, url=url)
        self._trade = Trade(key=api_key, secret=api_secret, url=url)
        self._user = User(key=api_key, secret=api_secret, url=url)
        for client in (self._market, self._trade, self._user):
            client.TIMEOUT = http_timeout_secs  # type: ignore[misc]  # the SDK reads it per request

    def __repr__(self) -> str:
        return f"KrakenFuturesHttp(url={self.url!r})"

    # ------------------------------------------------------------------ endpoints

    def charts(self, tick_type: str, symbol: str, resolution: str, from_s: int | None, to_s: int | None,
               count: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if from_s is not None:
            params["from"] = from_s
        if to_s is not None:
            params["to"] = to_s
        if count is not None:
            params["count"] = count
        uri = f"/api/charts/v1/{tick_type}/{symbol}/{resolution}"
        return self._call("charts", lambda: self._market.request("GET", uri, query_params=params, auth=False))

    def instruments(self) -> dict[str, Any]:
        return self._call("instruments", self._market.get_instruments)

    def accounts(self) -> dict[str, Any]:
        return self._call("accounts", self._user.get_wallets)

    def openpositions(self) -> dict[str, Any]:
        return self._call("openpositions", self._user.get_open_positions)

    def openorders(self) -> dict[str, Any]:
        return self._call("openorders", self._user.get_open_orders)

    def fills(self, last_fill_time: str | None = None) -> dict[str, Any]:
        return self._call("fills", lambda: self._trade.get_fills(lastFillTime=last_fill_time))

    def orders_status(self, cli_ord_ids: list[str]) -> dict[str, Any]:
        return self._call("orders/status", lambda: self._trade.get_orders_status(cliOrdIds=list(cli_ord_ids)))

    def sendorder(self, params: dict[str, str]) -> dict[str, Any]:
        """Send one order; ``params`` are already formatted strings (sizes, ``reduceOnly="true"``)."""
        return self._call(
            "sendorder",
            lambda: self._trade.request("POST", "/derivatives/api/v3/sendorder", post_params=dict(params), auth=True),
            sends_order=True,
            cli_ord_id=params.get("cliOrdId", ""),
        )

    def cancelorder(self, order_id: str | None = None, cli_ord_id: str | None = None) -> dict[str, Any]:
        return self._call("cancelorder", lambda: self._trade.cancel_order(order_id=order_id, cliOrdId=cli_ord_id))

    def leveragepreferences(self) -> dict[str, Any]:
        return self._call("leveragepreferences", self._market.get_leverage_preference)

    def set_leveragepreferences(self, symbol: str, max_leverage: str) -> dict[str, Any]:
        params = {"symbol": symbol, "maxLeverage": max_leverage}
        return self._call(
            "leveragepreferences",
            lambda: self._market.request("PUT", "/derivatives/api/v3/leveragepreferences", post_params=params, auth=True),
        )

    # ------------------------------------------------------------------ plumbing

    def _call(
        self, endpoint: str, call: Callable[[], Any], *, sends_order: bool = False, cli_ord_id: str = ""
    ) -> dict[str, Any]:
        """Run one SDK call and turn every failure into a BitSniper error (table in the module doc)."""
        try:
            reply = call()
        except requests.ConnectionError as error:  # includes ConnectTimeout
            if _never_reached_server(error):
                raise self._logged(endpoint, TransientExchangeError(f"{endpoint}: cannot connect; nothing was sent"))
            raise self._logged(endpoint, self._lost(endpoint, "connection dropped", sends_order))
        except requests.Timeout:
            raise self._logged(endpoint, self._lost(endpoint, "timed out waiting for the reply", sends_order))
        except requests.RequestException as error:
            raise self._logged(endpoint, self._lost(endpoint, f"transport error {type(error).__name__}", sends_order))
        except tuple(_SDK_EXCEPTION_CODES) as error:
            code = next(c for t, c in _SDK_EXCEPTION_CODES.items() if isinstance(error, t))
            if sends_order and code in _SDK_RAISED_SEND_STATUSES:
                # The SDK raises for these sendStatus.status values itself: still a refusal of the order.
                raise self._logged(endpoint, OrderRefused(cli_ord_id, code))
            raise self._logged(endpoint, classify_error_code(endpoint, code, sends_order=sends_order))
        except ValueError as error:  # the SDK's "reply is not JSON"
            if str(error).startswith("Missing credentials"):
                raise ConfigError("Kraken API key and secret are required for private endpoints") from None
            raise self._logged(endpoint, self._lost(endpoint, "malformed JSON reply", sends_order))
        except Exception as error:  # noqa: BLE001 - the SDK raises bare Exception for non-200 replies
            status = _http_status(error)
            if status is None:
                raise
            raise self._logged(endpoint, self._http_error(endpoint, status, sends_order))
        if not isinstance(reply, dict):
            problem = f"{endpoint}: reply is not an object ({type(reply).__name__})"
            raise self._logged(endpoint, OrderStateUnknown(problem) if sends_order else ExchangeReplyError(problem))
        if reply.get("result") == "error" or ("error" in reply and reply.get("result") != "success"):
            code = str(reply.get("error") or "unknownError")
            raise self._logged(endpoint, classify_error_code(endpoint, code, sends_order=sends_order))
        return reply

    @staticmethod
    def _lost(endpoint: str, what: str, sends_order: bool) -> Exception:
        if sends_order:
            return OrderStateUnknown(f"{endpoint}: {what}; the order may or may not exist")
        return TransientExchangeError(f"{endpoint}: {what}")

    @staticmethod
    def _http_error(endpoint: str, status: int, sends_order: bool) -> Exception:
        if status == _RATE_LIMITED_HTTP:
            return TransientExchangeError(f"{endpoint}: HTTP {status}, retry later")
        if status >= 500:
            if sends_order:
                return OrderStateUnknown(f"{endpoint}: HTTP {status}; the order may or may not exist")
            return TransientExchangeError(f"{endpoint}: HTTP {status}, retry later")
        return ExchangeRequestRefused(endpoint, f"HTTP {status}")

    @staticmethod
    def _logged(endpoint: str, error: Exception) -> Exception:
        log.warning("kraken %s failed: %s: %s", endpoint, type(error).__name__, error)
        return error
