"""Downtime of one redeploy per strategy, on a graceful app (exits on SIGTERM) and on one that
ignores SIGTERM (stopped only by the kill after `shutdown_timeout`).

Real engine, local registry, the test bed's busybox images. For each case: deploy v1, publish
v2, redeploy while an HTTP prober polls the fixed host port every 5 ms, and report the core's
`downtime_ms` next to what the prober saw (refused requests, longest gap). `start-first` has
no fixed host port (it cannot have one), so only its own report is shown.

    PYTHONPATH=. .venv/bin/python bench/downtime.py [--runs N]   (from the repository root)
"""

from __future__ import annotations

import argparse
import statistics
import time

from probe import Prober  # bench/probe.py: a script's own folder is on sys.path

from saltext import docker_deploy
from tests.support.testbed import STUBBORN_CMD, Registry, TestBed, docker, free_port, wait_http

SHUTDOWN_TIMEOUT = 3


def one(bed, registry, local, app_kind, strategy, n) -> dict:
    name = f"ddbench-{bed.run_id}-{app_kind}-{strategy}-{n}"
    repo = f"bench-{app_kind}-{strategy}-{n}"
    port = free_port()
    fixed = strategy != "start-first"
    spec = {
        "labels": bed.labels,
        "port_bindings": [f"127.0.0.1:{port}:80" if fixed else "127.0.0.1::80"],
        "shutdown_timeout": SHUTDOWN_TIMEOUT,
        "strategy": strategy,
        "min_uptime": 1,
    }
    try:
        ref = bed.publish(registry, local[f"{app_kind}-v1"], repo, "prod")
        docker_deploy.redeploy(name, ref, **spec)
        if fixed:
            assert wait_http(port, "v1") == "v1"
        bed.publish(registry, local[f"{app_kind}-v2"], repo, "prod")
        prober = Prober(port) if fixed else None
        if prober:
            prober.start()
            time.sleep(0.2)
        report = docker_deploy.redeploy(name, ref, **spec)
        if prober:
            assert wait_http(port, "v2") == "v2"
            probed = prober.stop()
        assert report["action"] == "replaced"
        return {
            "downtime_ms": report["downtime_ms"],
            "refused": probed["refused"] if prober else None,
            "gap_ms": probed["gap_ms"] if prober else None,
        }
    finally:
        docker("rm", "-f", name, f"{name}.deploy-new", f"{name}.deploy-old", check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bed = TestBed()
    registry = Registry(bed.workdir / "registry")
    try:
        local = {}
        for version in ("v1", "v2"):
            local[f"graceful-{version}"] = f"ddbench-{bed.run_id}/graceful:{version}"
            bed.build(local[f"graceful-{version}"], version)
            local[f"stubborn-{version}"] = f"ddbench-{bed.run_id}/stubborn:{version}"
            bed.build(local[f"stubborn-{version}"], version, cmd=STUBBORN_CMD)
        print(f"shutdown_timeout {SHUTDOWN_TIMEOUT} s, median of {args.runs} runs")
        header = ("app", "strategy", "downtime_ms", "prober gap ms", "refused")
        print("{:10} {:13} {:>12} {:>14} {:>8}".format(*header))
        for app_kind in ("graceful", "stubborn"):
            for strategy in docker_deploy.STRATEGIES:
                rows = [one(bed, registry, local, app_kind, strategy, n) for n in range(args.runs)]
                downtime = statistics.median(r["downtime_ms"] for r in rows)
                gaps = [r["gap_ms"] for r in rows if r["gap_ms"] is not None]
                refused = [r["refused"] for r in rows if r["refused"] is not None]
                gap = f"{statistics.median(gaps):.0f}" if gaps else "n/a"
                ref = f"{statistics.median(refused):.0f}" if refused else "n/a"
                print(f"{app_kind:10} {strategy:13} {downtime:12.0f} {gap:>14} {ref:>8}")
    finally:
        registry.stop()
        bed.cleanup()


if __name__ == "__main__":
    main()
