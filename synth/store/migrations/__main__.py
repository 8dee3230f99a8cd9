"""Write a new revision: `python -m synth.store.migrations "add principals"`.

Upgrades a scratch SQLite database to head, then autogenerates the difference
to `synth.store.sqltables` into `versions/NNNN_<slug>.py`, numbered after the
last revision. Autogenerate misses some changes (renames, server defaults,
data moves): read and edit what it writes. Ruff then formats it, if installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from synth.store.migrations import alembic_config, upgrade


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synth.store.migrations")
    parser.add_argument("message", help="what the revision does, e.g. 'add principals'")
    args = parser.parse_args(argv)
    numbers = [
        int(s.revision)
        for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()
        if s.revision.isdigit()
    ]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(
                    alembic_config(conn), message=args.message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
    for s in script if isinstance(script, list) else [script]:
        if s is not None:  # the repository's style (`make lint` checks it)
            subprocess.run([sys.executable, "-m", "ruff", "check", "-q", "--fix", s.path])
            subprocess.run([sys.executable, "-m", "ruff", "format", "-q", s.path])


if __name__ == "__main__":
    main()
