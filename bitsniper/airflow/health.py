"""Liveness of Airflow's components, read from the API server's ``/api/v2/monitor/health``.

A scheduler whose main loop hangs keeps its process alive but stops heart-beating: nothing is scheduled,
no order goes out and, since the monitoring DAG runs under that same scheduler, nothing alerts either.
``scripts/airflow-stack.sh`` asks this module at every watchdog tick and restarts a component that stays
unhealthy (the liveness probe Airflow's Helm chart runs, without Kubernetes).

Only stdlib here: the watchdog starts it every 30 seconds on a small VPS.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["COMPONENTS", "unhealthy_components", "main"]

# Health key -> the stack's component name (scripts/airflow-stack.sh).
COMPONENTS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag_processor": "dag-processor"}


def unhealthy_components(health: Mapping[str, Any]) -> list[str]:
    """Components whose heartbeat is stale. None while the metadata database itself is unhealthy: every
    component then looks dead, and restarting them cannot bring the database back."""
    if (health.get("metadatabase") or {}).get("status") != "healthy":
        return []
    return [name for key, name in COMPONENTS.items() if (health.get(key) or {}).get("status") == "unhealthy"]


def main(argv: list[str] | None = None) -> int:
    """``python -m bitsniper.airflow.health URL``: print the unhealthy components' names (an empty line when
    all are well); exit 2 without a verdict when the API server does not answer."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bitsniper.airflow.health http://localhost:8080/api/v2/monitor/health", file=sys.stderr)
        return 64
    try:
        with urllib.request.urlopen(args[0], timeout=10) as response:
            health = json.load(response)
    except (OSError, ValueError) as error:
        print(f"no answer from {args[0]}: {error}", file=sys.stderr)
        return 2
    print(" ".join(unhealthy_components(health)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
