"""``bitsniper db ...``: migrate the store named by ``BITSNIPER_DATABASE_URL`` (works from any directory)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

__all__ = ["db_app"]

db_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The state store: migrations.")
_out = Console()
_err = Console(stderr=True)

UrlOption = Annotated[
    Optional[str],
    typer.Option("--url", envvar="BITSNIPER_DATABASE_URL", show_envvar=True, show_default=False,
                 help="SQLAlchemy URL (default: the configured BITSNIPER_DATABASE_URL)."),
]


def _url(url: str | None) -> str:
    if url:
        return url
    from bitsniper.store.db import database_url

    return database_url()


def _fail(message: str) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@db_app.command("upgrade")
def upgrade_command(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option("--revision", help="Target revision.")] = "head",
) -> None:
    """Create or migrate the store's tables up to REVISION (default: the newest)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bitsniper.errors import BitSniperError
    from bitsniper.store.db import safe_url
    from bitsniper.store.migrate import current_revision, upgrade

    try:
        target = _url(url)
        before = current_revision(target)
        after = upgrade(target, revision)
    except (BitSniperError, SQLAlchemyError) as error:
        # SQLAlchemy messages can quote the URL; show only the error class and the masked target.
        where = safe_url(url) if url else "BITSNIPER_DATABASE_URL"
        raise _fail(f"cannot migrate {where}: {type(error).__name__}: {getattr(error, 'orig', error)}") from None
    _out.print(f"{safe_url(target)}: {before or 'empty'} -> {after}", highlight=False, soft_wrap=True)


@db_app.command("current")
def current_command(url: UrlOption = None) -> None:
    """Print the store's revision and whether it is the newest the package ships."""
    from sqlalchemy.exc import SQLAlchemyError

    from bitsniper.errors import BitSniperError
    from bitsniper.store.db import safe_url
    from bitsniper.store.migrate import current_revision, head_revision

    try:
        target = _url(url)
        current = current_revision(target)
    except (BitSniperError, SQLAlchemyError) as error:
        raise _fail(f"cannot read the revision: {type(error).__name__}: {getattr(error, 'orig', error)}") from None
    head = head_revision()
    state = "up to date" if current == head else f"behind (head is {head}): run `bitsniper db upgrade`"
    _out.print(f"{safe_url(target)}: {current or 'empty'} ({state})", highlight=False, soft_wrap=True)
    if current != head:
        raise typer.Exit(1)
