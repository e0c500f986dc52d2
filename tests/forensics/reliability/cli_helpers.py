"""In-process CLI invocation shared by the reliability tests."""
from __future__ import annotations

from typer.testing import CliRunner, Result


def invoke_cli(*args) -> Result:
    """Run `forensics ARGS...` in-process; unexpected exceptions propagate (a clean exit does not)."""
    from forensics.cli.main import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res
