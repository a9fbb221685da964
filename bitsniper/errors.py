"""One error hierarchy whose classes say what happens next (see docs/strategy.md and design.md)."""

from __future__ import annotations

__all__ = [
    "BitSniperError",
    "ConfigError",
    "DataQualityError",
    "CandleFileError",
    "TransientExchangeError",
    "OrderRejected",
    "OrderStateUnknown",
    "ReconciliationError",
    "FormingCandleError",
    "DuplicateOrderError",
    "IllegalOrderTransition",
    "ExchangeRequestRefused",
    "ExchangeReplyError",
    "OrderRefused",
    "CircuitOpen",
]


class BitSniperError(Exception):
    """Base of every error BitSniper raises on purpose."""


class ConfigError(BitSniperError, ValueError):
    """A setting is invalid: start-up stops and names the setting."""


class DataQualityError(BitSniperError):
    """Candles are unusable: the run stops before any decision and alerts."""


class CandleFileError(DataQualityError):
    """A candle file is malformed; carries the file, the line and the problem."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class TransientExchangeError(BitSniperError):
    """The exchange did not answer usefully this time; the call may be retried."""


class OrderRejected(BitSniperError):
    """The exchange refused the order for good; never retried."""


class OrderStateUnknown(BitSniperError):
    """An order may or may not exist: reconcile by looking it up, never resend blind."""


class ReconciliationError(BitSniperError):
    """The exchange and the store disagree: trading halts until an operator resumes."""


class FormingCandleError(DataQualityError):
    """A candle that has not closed yet (T2) was offered to the store: it is refused, never stored."""


class DuplicateOrderError(OrderStateUnknown):
    """An order with this ``cliOrdId`` is already recorded: look it up, never send it again."""


class IllegalOrderTransition(ReconciliationError):
    """An order status change the lifecycle forbids: our record and the caller disagree, so trading halts."""


class ExchangeRequestRefused(BitSniperError):
    """The exchange refused a request for good (authenticationError, invalidArgument, ...): alert, no retry."""

    def __init__(self, endpoint: str, code: str) -> None:
        self.endpoint = endpoint
        self.code = code
        super().__init__(f"{endpoint}: refused by the exchange ({code})")


class ExchangeReplyError(BitSniperError):
    """A reply is missing fields or holds an unknown value: no new order, an alert, never a retry loop."""


class OrderRefused(OrderRejected):
    """The exchange answered an order with a refusal ``sendStatus.status``; carries the status and cliOrdId."""

    def __init__(self, cli_ord_id: str, status: str) -> None:
        self.cli_ord_id = cli_ord_id
        self.status = status
        super().__init__(f"order {cli_ord_id} refused by the exchange: {status}")


class CircuitOpen(TransientExchangeError):
    """The exchange circuit breaker is open: nothing was sent; retry after its cool-down."""
