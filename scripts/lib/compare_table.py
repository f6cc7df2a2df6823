#!/usr/bin/env python3
"""The table of `scripts/bench compare`: one column per system, then Confab's ratios.

Reads DIR/<system>.json (the load generator's --json result; a missing file is a failed
run) and DIR/<system>.load (the machine's load average when that run started) and prints
Markdown. Rows that no system reports (null everywhere) are left out.
"""

import argparse
import datetime
import json
import os
import platform

# (row label, JSON path, scale, decimals, ratio wanted)
ROWS = [
    ("connections", ("connections",), 1, 0, False),
    ("measured window (s)", ("duration_s",), 1, 1, False),
    ("messages sent", ("sent",), 1, 0, False),
    ("messages acked", ("acked",), 1, 0, False),
    ("deliveries", ("delivered",), 1, 0, False),
    ("deliveries expected", ("expected_deliveries",), 1, 0, False),
    ("lost", ("lost",), 1, 0, False),
    ("duplicated", ("duplicated",), 1, 0, False),
    ("throughput (acked msg/s)", ("throughput_per_s",), 1, 0, True),
    ("deliveries/s", ("deliveries_per_s",), 1, 0, True),
    ("server CPU (s)", ("server_cpu_s",), 1, 2, True),
    ("server CPU (% of a core)", ("server_cpu_percent",), 1, 0, False),
    ("load generator CPU (% of a core)", ("loadgen_cpu_percent",), 1, 0, False),
    ("server CPU per message (µs)", ("cpu_us_per_message",), 1, 2, True),
    ("server CPU per delivery (µs)", ("cpu_us_per_delivery",), 1, 2, True),
    ("ack p50 (ms)", ("ack_latency_us", "p50"), 1e-3, 2, True),
    ("ack p99 (ms)", ("ack_latency_us", "p99"), 1e-3, 2, True),
    ("deliver p50 (ms)", ("deliver_latency_us", "p50"), 1e-3, 2, True),
    ("deliver p99 (ms)", ("deliver_latency_us", "p99"), 1e-3, 2, True),
    ("deliver max (ms)", ("deliver_latency_us", "max"), 1e-3, 1, False),
    ("connects/s", ("connects_per_s",), 1, 0, True),
    ("server CPU per connect (µs)", ("cpu_us_per_connect",), 1, 0, True),
    ("connect p50 (ms)", ("connect_latency_us", "p50"), 1e-3, 2, True),
    ("connect p99 (ms)", ("connect_latency_us", "p99"), 1e-3, 2, True),
    ("server RSS before (MiB)", ("server_rss_bytes_before",), 1 / 2**20, 1, False),
    ("server RSS after (MiB)", ("server_rss_bytes_after",), 1 / 2**20, 1, False),
    ("RSS per connection (KB)", ("rss_bytes_per_connection",), 1e-3, 1, True),
]

BASE = "confab"


def lookup(result, path):
    if path == ("cpu_us_per_connect",):
        # the storm's server CPU over the connections it made
        cpu, count = lookup(result, ("server_cpu_s",)), lookup(result, ("connections",))
        return cpu * 1e6 / count if result.get("scenario") == "connect" and cpu is not None and count else None
    value = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def cell(value, scale, decimals):
    return "—" if value is None else f"{value * scale:,.{decimals}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--command", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("dir")
    parser.add_argument("systems", nargs="+")
    args = parser.parse_args()

    results, loads = {}, {}
    for system in args.systems:
        try:
            with open(os.path.join(args.dir, f"{system}.load"), encoding="utf-8") as file:
                loads[system] = file.read().strip()
        except OSError:
            loads[system] = "?"
        path = os.path.join(args.dir, f"{system}.json")
        try:
            with open(path, encoding="utf-8") as file:
                results[system] = json.load(file)
        except (OSError, ValueError):
            results[system] = None
    others = [s for s in args.systems if s != BASE] if BASE in results else []

    first = next((r for r in results.values() if r), {})
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8") if line.startswith("model name")),
        platform.machine(),
    )
    print(f"### {first.get('scenario', '?')} {json.dumps(first.get('params'))}")
    print()
    print(f"`{args.command}` — commit `{args.commit}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores ({cpu}); servers pinned to CPU 0, load generator to CPU 1.")
    print()
    header = ["metric", *args.systems, *(f"{BASE} ÷ {o}" for o in others)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("| machine load at start (1-min avg) | " + " | ".join(loads[s] for s in args.systems) + " |" + " — |" * len(others))
    for label, path, scale, decimals, ratio in ROWS:
        values = {s: lookup(r, path) if r else None for s, r in results.items()}
        if all(v is None for v in values.values()):
            continue
        row = [label]
        for system in args.systems:
            row.append("failed" if results[system] is None else cell(values[system], scale, decimals))
        for other in others:
            base, value = values[BASE], values[other]
            row.append(f"{base / value:.2f}×" if ratio and base is not None and value else "—")
        print("| " + " | ".join(row) + " |")
    # Where each system's CPU per message went, by server process (nodes, database, Redis...).
    names = sorted({name for r in results.values() if r for name in r.get("server_cpu_s_by_process") or {}})
    for name in names:
        cells = []
        for system in args.systems:
            result = results[system] or {}
            cpu, acked = (result.get("server_cpu_s_by_process") or {}).get(name), result.get("acked")
            cells.append(cell(cpu * 1e6 / acked if cpu is not None and acked else None, 1, 2))
        if all(c == "—" for c in cells):
            continue
        print(f"| server CPU per message: {name} (µs) | " + " | ".join(cells) + " |" + " — |" * len(others))


if __name__ == "__main__":
    main()
