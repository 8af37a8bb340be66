"""`clearline serve`: the rating service over the ledger, at the command line.

Input: contract files, a ledger URL, and where to listen. Output: a running
HTTP service (uvicorn) until Ctrl-C or SIGTERM. Bad contracts, an unusable
ledger or a missing `serve` extra are diagnostics (exit 1), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clearline import codes
from clearline.cli.base import EXIT_ERRORS, _consoles, _contract_files, _fail, app
from clearline.cli.ledger import LedgerOption, opened
from clearline.diagnostics import ClearlineError, Diagnostic


@app.command()
def serve(
    contracts: Annotated[list[Path], typer.Argument(help="Contract files or folders.")],
    ledger: LedgerOption,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=0, max=65535)] = 8600,
    fx: Annotated[Path | None, typer.Option("--fx", help="FX rates CSV: date,from,to,rate.")] = None,
    customers: Annotated[Path | None, typer.Option("--customers", help="Customers CSV.")] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="A file holding the bearer token that writing endpoints need."),
    ] = None,
    contracts_dir: Annotated[
        Path, typer.Option("--contracts-dir", help="Where contracts loaded over HTTP are saved.")
    ] = Path("contracts-loaded"),
) -> None:
    """Serve the rating API: rate usage as it arrives, bills and payouts so far, hot-loaded
    contracts; every acknowledged record is committed to the ledger."""
    out, err = _consoles()
    try:
        import uvicorn

        from clearline.service.app import create_app
        from clearline.service.core import Service
    except ImportError as error:
        diagnostic = Diagnostic(
            codes.LEDGER_UNREACHABLE,
            f"the service needs packages that are not installed ({error.name})",
            None,
            "pip install 'clearline[serve]'",
        )
        raise _fail(ClearlineError([diagnostic]), err) from None
    files = _contract_files(contracts, err)
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            err.print(f"error[{codes.BAD_OPTION}]: cannot read the token file {token_file}: {error}")
            raise typer.Exit(EXIT_ERRORS) from None
        if not token:
            err.print(f"error[{codes.BAD_OPTION}]: the token file {token_file} is empty")
            raise typer.Exit(EXIT_ERRORS)
    with opened(ledger) as store:
        try:
            service = Service(store, files, fx, customers)
        except ClearlineError as error:
            raise _fail(error, err) from None
        except OSError as error:
            err.print(f"error[{codes.UNREADABLE_FILE}]: {error}")
            raise typer.Exit(EXIT_ERRORS) from None
        if token is None:
            err.print("note: no --token-file: writing endpoints accept any client on " + host)
        out.print(f"clearline serve: http://{host}:{port} (ledger {store.url})")
        try:
            uvicorn.run(
                create_app(service, token, contracts_dir),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                timeout_keep_alive=5,
            )
        finally:
            service.stop()
