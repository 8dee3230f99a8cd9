"""Run benchmarks by name: `python -m bench transfer dp_marginals` (all when none given)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    names = argv or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"\n## bench_{name}\n", flush=True)
        saved = sys.argv
        sys.argv = [str(HERE / f"bench_{name}.py")]
        try:
            runpy.run_path(str(HERE / f"bench_{name}.py"), run_name="__main__")
        finally:
            sys.argv = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
