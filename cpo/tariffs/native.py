"""Build the pricing engine as a C extension with mypyc: the same source, about 1.4 times as fast.

Run: ``python -m cpo.tariffs.native build`` (``make`` does it on setup; it needs a C compiler and mypy).

The engine's source (``engine.py`` up to its native marker) is copied as ``cpo.tariffs._engine_native`` with
the source's SHA-256 appended, compiled, and the extension placed next to ``engine.py``. On import,
``engine.py`` uses the compiled module only when that digest matches its own source: an edited engine never
runs a stale build. Without a build (or with ``CPO_TARIFFS_PURE=1``) the engine runs as plain Python, with
the same results.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

MARKER = "# --- native: everything below this line stays out of the compiled build ---"
HERE = Path(__file__).parent
NAME = "_engine_native"


def compiled_source(engine: Path = HERE / "engine.py") -> str:
    return engine.read_text(encoding="utf-8").split(MARKER, 1)[0]


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def load_pure() -> ModuleType:
    """A second copy of the engine that runs as plain Python, whatever is built (to compare the two)."""
    spec = importlib.util.spec_from_file_location("cpo.tariffs._engine_pure", HERE / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    before = os.environ.get("CPO_TARIFFS_PURE")
    os.environ["CPO_TARIFFS_PURE"] = "1"
    try:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        if before is None:
            os.environ.pop("CPO_TARIFFS_PURE", None)
        else:
            os.environ["CPO_TARIFFS_PURE"] = before
    return module


def build() -> int:
    source = compiled_source()
    with tempfile.TemporaryDirectory(prefix="cpo-native-") as tmp:
        root = Path(tmp)
        package = root / "cpo" / "tariffs"
        package.mkdir(parents=True)
        (root / "cpo" / "__init__.py").write_text("")
        (package / "__init__.py").write_text("")
        shutil.copy(HERE / "ocpi.py", package / "ocpi.py")
        (package / f"{NAME}.py").write_text(source + f'\nSOURCE_DIGEST = "{digest(source)}"\n', encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - our own interpreter and files
            [sys.executable, "-m", "mypyc", f"cpo/tariffs/{NAME}.py"], cwd=root, capture_output=True, text=True
        )
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
            return done.returncode
        built = [p for p in package.iterdir() if p.name.startswith(NAME) and p.suffix in (".so", ".pyd")]
        built += [p for p in root.iterdir() if p.name.startswith(NAME) and p.suffix in (".so", ".pyd")]
        for old in HERE.glob(f"{NAME}*"):
            if old.suffix in (".so", ".pyd"):
                old.unlink()
        for path in built:
            shutil.copy(path, HERE / path.name)
    print(f"built {', '.join(p.name for p in built)} in {HERE}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        print(__doc__)
        sys.exit(2)
    sys.exit(build())
