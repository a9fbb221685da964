"""Kraken Futures request authentication, as the exchange checks it.

``Authent = base64(HMAC_SHA512(base64decode(secret), SHA256(postData + nonce + endpointPath)))`` where
``postData`` is the parameter string exactly as sent (query string for GET/DELETE and for the SDK's PUT,
form body for POST) and ``endpointPath`` is the path without the ``/derivatives`` prefix. Nonces must grow:
a repeat is ``nonceDuplicate``, anything below the highest seen is ``nonceBelowThreshold``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from dataclasses import dataclass, field

__all__ = ["sign", "endpoint_path", "Credentials", "Authenticator"]


def endpoint_path(url_path: str) -> str:
    """The path the signature covers: the URL path without ``/derivatives`` (and never a query)."""
    return url_path.removeprefix("/derivatives")


def sign(secret_b64: str, post_data: str, nonce: str, path: str) -> str:
    """Compute ``Authent`` for one request (the spec's test vector pins this function)."""
    digest = hashlib.sha256((post_data + nonce + path).encode("utf-8")).digest()
    key = base64.b64decode(secret_b64)
    return base64.b64encode(hmac.new(key, digest, hashlib.sha512).digest()).decode()


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one key pair the simulator accepts; ``repr`` never shows the secret."""

    api_key: str
    api_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise ValueError("the simulator needs an API key and secret (--api-key/--api-secret or env)")
        try:
            base64.b64decode(self.api_secret, validate=True)
        except binascii.Error:
            raise ValueError("the API secret must be valid base64 (as Kraken's secrets are)") from None


class Authenticator:
    """Checks key, signature and nonce of private requests; returns a Kraken error code or None."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._highest_nonce: int | None = None
        self._lock = threading.Lock()

    def check(self, api_key: str | None, authent: str | None, nonce: str | None, post_data: str, url_path: str) -> str | None:
        """``authenticationError``, ``nonceDuplicate``, ``nonceBelowThreshold``, or None when accepted."""
        if not api_key or not authent or not hmac.compare_digest(api_key, self._credentials.api_key):
            return "authenticationError"
        expected = sign(self._credentials.api_secret, post_data, nonce or "", endpoint_path(url_path))
        if not hmac.compare_digest(expected, authent):
            return "authenticationError"
        if nonce is None or nonce == "":
            return None  # Kraken treats the nonce as optional
        try:
            value = int(nonce)
        except ValueError:
            return "authenticationError"
        with self._lock:
            # Every accepted nonce raised the high-water mark, so a repeat can only equal it.
            if self._highest_nonce is not None and value == self._highest_nonce:
                return "nonceDuplicate"
            if self._highest_nonce is not None and value < self._highest_nonce:
                return "nonceBelowThreshold"
            self._highest_nonce = value
        return None
