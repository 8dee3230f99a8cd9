"""The `synth` command: run the server, run the demo, and the SDK's calls from a shell.

Every verb except `serve`, `demo`, `token` and `audit` talks to a server
(`--server`, default $SYNTH_SERVER or localhost:50051) through `synth.Client`,
with the token and TLS options of `synth.client.credentials`; `token` and
`audit` work on a server's data folder directly. Errors print one line to
stderr and exit non-zero (2 for bad input); progress bars go to stderr,
results to stdout (`--json` for machine-readable output).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from synth.base.errors import InvalidArgument, SynthError
from synth.cli.commands import DEMO_SAMPLE, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED
from synth.cli.parser import build_parser

__all__ = ["DEMO_SAMPLE", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `synth` command; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except InvalidArgument as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    except SynthError as exc:
        _error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("synth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("SYNTH_DEBUG"):
            raise
        print(
            f"synth: internal error: {type(exc).__name__}: {exc} (set SYNTH_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _error(exc: SynthError) -> None:
    line = f"synth: error: {exc.message}"
    extra = [f"{v.field}: {v.description}" for v in exc.violations if v.description not in line]
    if extra:
        line += " [" + "; ".join(extra) + "]"
    print(line.replace("\n", " "), file=sys.stderr)
    if os.environ.get("SYNTH_DEBUG"):
        raise exc
