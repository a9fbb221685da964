"""BitSniper: BTC/USD perpetual-futures trading on Kraken Futures from RSI and Wilder volatility indexes."""

__version__ = "0.1.0"
__all__ = ["__version__"]
