"""Run every benchmark module and print their results; write bench/results/latest.json."""
from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from pathlib import Path

MODULES = ["bench.bench_layers", "bench.bench_5g", "bench.bench_cover", "bench.bench_pon", "bench.bench_plan",
           "bench.bench_map"]


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    wanted = argv or MODULES
    results = {}
    for name in wanted:
        name = name if name.startswith("bench.") else f"bench.{name}"
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"skip {name}: {exc}")
            continue
        print(f"\n=== {name}")
        t = time.perf_counter()
        results[name] = mod.run()
        results[name]["_wall_seconds"] = round(time.perf_counter() - t, 2)
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
