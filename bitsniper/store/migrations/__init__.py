"""Alembic migrations of the store (run them with ``bitsniper db upgrade``)."""
