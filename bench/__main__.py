"""Run every benchmark module in this folder in turn: ``python -m bench [name ...]``.

Each module is a script with a ``main()`` that prints a markdown table; results are what
docs/performance.md records, with the command that produced them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(i.name for i in pkgutil.iter_modules([str(here)])
                     if not i.name.startswith("_"))
    chosen = [m for m in modules if not names or any(n in m for n in names)]
    if not chosen:
        print(f"no benchmark matches {names}; available: {', '.join(modules)}")
        return 2
    sys.argv = sys.argv[:1]  # each bench parses its own options: the names are not theirs
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"\n({name} took {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
