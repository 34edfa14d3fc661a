"""Cost per epoch of T only, PQ only and hybrid sessions as the group
grows: runs the simulator over a sweep of sizes and plots wire bytes and
CPU time per epoch (needs matplotlib: ``pip install 'mlsx[plot]'``)."""

from __future__ import annotations

import argparse
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

import mlsx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", default="4,8,16,32", help="group sizes, comma-separated")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--full-every", type=int, default=10, help="FULL commit period of the hybrid session")
    parser.add_argument("--out", default="sweep.png")
    args = parser.parse_args()

    sizes = [int(s) for s in args.members.split(",")]
    report = mlsx.simulate(members=sizes, epochs=args.epochs, full_every=[args.full_every], workload="mixed")
    series: Dict[str, Dict[str, List[float]]] = {}
    for point in report["sizes"]:
        for s in point["scenarios"]:
            entry = series.setdefault(s["name"], {"members": [], "kib": [], "cpu": []})
            entry["members"].append(point["members"])
            entry["kib"].append(s["wire_bytes_per_epoch"] / 1024)
            entry["cpu"].append(s["cpu_seconds_per_epoch"])

    fig, (wire, cpu) = plt.subplots(1, 2, figsize=(10, 4))
    for name, entry in series.items():
        wire.plot(entry["members"], entry["kib"], marker="o", label=name)
        cpu.plot(entry["members"], entry["cpu"], marker="o", label=name)
    for ax, label in ((wire, "KiB per epoch"), (cpu, "CPU seconds per epoch")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("members")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"mlsx: PQ vs hybrid cost ({report['workload']} workload, suite TBD6, {report['backend']})")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
