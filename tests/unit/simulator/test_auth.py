"""Authent and nonce rules of the simulator, pinned by the spec's test vector."""

from __future__ import annotations

import base64

import pytest

from bitsniper.simulator.auth import Authenticator, Credentials, endpoint_path, sign

SECRET = base64.b64encode(bytes(range(64))).decode()
ORDER_BODY = "orderType=lmt&symbol=PF_XBTUSD&side=buy&size=0.0001&limitPrice=50000&cliOrdId=bot-0001"


def test_spec_vector_sendorder_signature_matches() -> None:
    assert sign(SECRET, ORDER_BODY, "1700000000000", "/api/v3/sendorder") == (
        "8DJ2mgwEwgofcopezrpK+fPFtrwffSZ5Ir9ANQk65SV7ULenwNfIyMz5iptYzOpCvJeCYxDfmZuQXZ5V+tpc3w=="
    )


def test_spec_vector_openpositions_signature_matches() -> None:
    assert sign(SECRET, "", "1700000000000", "/api/v3/openpositions") == (
        "2q2yvX9QiSmcwXgvAeGBYLjKoq3iQy/wcAFyfDhCdDt+ntK4q/60gnEijCnI0/X/1HlI3PIM7nq0toC/DC7U0w=="
    )


def test_sdk_signature_is_accepted_by_the_simulator() -> None:
    # Arrange: python-kraken-sdk's own signing function, as it signs a real sendorder
    from kraken.futures import Trade

    client = Trade(key="k", secret=SECRET, url="http://127.0.0.1:1")
    authent = client._get_kraken_futures_signature("/derivatives/api/v3/sendorder", ORDER_BODY, "1700000000000")
    auth = Authenticator(Credentials("k", SECRET))
    # Act / Assert
    assert auth.check("k", authent, "1700000000000", ORDER_BODY, "/derivatives/api/v3/sendorder") is None


def test_endpoint_path_strips_derivatives_prefix_only() -> None:
    assert endpoint_path("/derivatives/api/v3/orders/status") == "/api/v3/orders/status"
    assert endpoint_path("/api/charts/v1/trade/PF_XBTUSD/15m") == "/api/charts/v1/trade/PF_XBTUSD/15m"


@pytest.mark.parametrize(
    ("key", "body"),
    [("other-key", ORDER_BODY), ("k", ORDER_BODY + "&reduceOnly=true")],
    ids=["wrong key", "body changed after signing"],
)
def test_wrong_key_or_tampered_body_is_authentication_error(key: str, body: str) -> None:
    auth = Authenticator(Credentials("k", SECRET))
    authent = sign(SECRET, ORDER_BODY, "5", "/api/v3/sendorder")
    assert auth.check(key, authent, "5", body, "/derivatives/api/v3/sendorder") == "authenticationError"


def _check(auth: Authenticator, nonce: str) -> str | None:
    return auth.check("k", sign(SECRET, "", nonce, "/api/v3/accounts"), nonce, "", "/derivatives/api/v3/accounts")


def test_repeated_nonce_is_nonce_duplicate() -> None:
    auth = Authenticator(Credentials("k", SECRET))
    assert _check(auth, "100") is None
    assert _check(auth, "100") == "nonceDuplicate"


def test_nonce_below_highest_is_below_threshold_and_higher_is_accepted() -> None:
    auth = Authenticator(Credentials("k", SECRET))
    assert _check(auth, "200") is None
    assert _check(auth, "150") == "nonceBelowThreshold"
    assert _check(auth, "201") is None


def test_refused_request_does_not_consume_its_nonce() -> None:
    auth = Authenticator(Credentials("k", SECRET))
    bad = auth.check("k", "AAAA", "300", "", "/derivatives/api/v3/accounts")
    assert bad == "authenticationError"
    assert _check(auth, "300") is None


def test_credentials_repr_hides_secret_and_reject_non_base64() -> None:
    assert SECRET not in repr(Credentials("k", SECRET))
    with pytest.raises(ValueError, match="base64"):
        Credentials("k", "not base64!!")
