"""Generate the Python stubs of protos/synth/v1 into synth/v1 (never edit them by hand).

The proto package `synth.v1` matches the import path, so the generated
imports need no fixing. `python scripts/gen_protos.py --check` exits 1 when the
committed stubs differ from what the protos generate (the test suite runs it).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[1]
PROTOS = REPO / "protos"
OUT = REPO / "synth" / "v1"
HEADER = '"""Generated from protos/synth/v1 by scripts/gen_protos.py. Do not edit."""\n'


def generate(into: Path) -> None:
    include = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "synth" / "v1").glob("*.proto"))
    plugin = shutil.which("protoc-gen-mypy") or str(Path(sys.executable).parent / "protoc-gen-mypy")
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={into}",
        f"--grpc_python_out={into}",
        f"--mypy_out={into}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (into / "synth" / "v1" / "__init__.py").write_text(HEADER)


def main() -> int:
    check = "--check" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "synth" / "v1"
        if check:
            names = sorted(p.name for p in fresh.iterdir())
            have = sorted(p.name for p in OUT.iterdir() if p.is_file()) if OUT.exists() else []
            stale = [
                n
                for n in names
                if not (OUT / n).exists() or not filecmp.cmp(fresh / n, OUT / n, shallow=False)
            ]
            extra = [n for n in have if n not in names]
            if stale or extra:
                print(f"stale generated stubs: {stale + extra}; run python scripts/gen_protos.py")
                return 1
            return 0
        if OUT.exists():
            shutil.rmtree(OUT)
        shutil.copytree(fresh, OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
