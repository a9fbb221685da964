"""The only package (with dags/) that imports Airflow: notifiers, callbacks, deadline alerts, task helpers."""

__all__: list[str] = []
