"""The main job, end to end on this machine: a local registry, a demo image published as v1 and
then v2 under one tag, and a container kept on that tag by `redeploy`.

Run through `bash .ci/demo` (which sets everything up first). Removes all it created.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from saltext import docker_deploy
from tests.support.testbed import EXIT_CMD, Registry, TestBed, free_port, wait_http

SHOWN = (
    "action",
    "comment",
    "container_id",
    "image_id",
    "previous_image_id",
    "changes",
    "downtime_ms",
)


def show(title: str, result: dict) -> None:
    print(f"\n--- {title}")
    print(json.dumps({k: result[k] for k in SHOWN}, indent=2))


EXAMPLE = Path(__file__).resolve().parent / "salt"


def salt_call_setup(root: Path, pillar: dict) -> Path:
    """A masterless minion whose file_roots are examples/salt as shipped."""
    (root / "conf").mkdir(parents=True)
    (root / "pillar").mkdir()
    (root / "conf" / "minion").write_text(
        f"id: demo\nroot_dir: {root}/run\nfile_client: local\n"
        f"file_roots: {{base: [{EXAMPLE}/states]}}\npillar_roots: {{base: [{root}/pillar]}}\n"
    )
    (root / "pillar" / "top.sls").write_text((EXAMPLE / "pillar" / "top.sls").read_text())
    (root / "pillar" / "webapp.sls").write_text(json.dumps({"webapp": pillar}))
    return root / "conf"


def salt_apply(conf: Path, title: str, *args: str) -> None:
    print(f"\n--- salt-call --local state.apply {' '.join(args)}  ({title})", flush=True)
    salt_call = Path(sys.executable).parent / "salt-call"
    subprocess.run([salt_call, "--local", "-c", conf, "state.apply", *args], check=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="    log: %(message)s")
    bed = TestBed()
    registry = Registry(bed.workdir / "registry")
    name = f"saltext-demo-{bed.run_id}"
    port = free_port()
    spec = {
        "port_bindings": [f"127.0.0.1:{port}:80"],
        "environment": {"APP_ENV": "prod"},
        "restart_policy": "unless-stopped",
        "labels": bed.labels,
    }
    try:
        print(f"registry: http://{registry.host}   container: {name}   port: {port}")
        v1 = bed.build(f"saltext-demo-{bed.run_id}/web:v1", "v1")
        v2 = bed.build(f"saltext-demo-{bed.run_id}/web:v2", "v2")
        print(f"built demo images v1 {v1[:19]} and v2 {v2[:19]}")

        ref = bed.publish(registry, f"saltext-demo-{bed.run_id}/web:v1", "demo/web", "prod")
        print(f"\npublished v1 as {ref}")
        first = docker_deploy.redeploy(name, ref, **spec)
        show("redeploy (first run)", first)
        print(f"HTTP answers: {wait_http(port, 'v1')}")

        bed.publish(registry, f"saltext-demo-{bed.run_id}/web:v2", "demo/web", "prod")
        print(f"\npublished v2 as {ref}")
        started = time.perf_counter()
        second = docker_deploy.redeploy(name, ref, **spec)
        took_ms = (time.perf_counter() - started) * 1000
        show("redeploy (new image in the registry)", second)
        print(
            f"v1 -> v2 redeploy took {took_ms:.0f} ms (of which the new container proved itself "
            f"for min_uptime, 2 s), downtime {second['downtime_ms']:.0f} ms"
        )
        print(f"HTTP answers: {wait_http(port, 'v2')}")

        logging.getLogger().setLevel(logging.WARNING)
        third = docker_deploy.redeploy(name, ref, **spec)
        show("redeploy (nothing changed)", third)

        calls = 50
        started = time.perf_counter()
        for _ in range(calls):
            assert docker_deploy.redeploy(name, ref, pull=False, **spec)["action"] == "none"
        noop_ms = (time.perf_counter() - started) * 1000 / calls
        print(f"\nno-op redeploy(pull=False): {noop_ms:.2f} ms per call ({calls} calls)")
        ok = (first["action"], second["action"], third["action"]) == ("created", "replaced", "none")

        # A broken image: it exits at once. The redeploy is rolled back; v2 keeps serving.
        broken = f"saltext-demo-{bed.run_id}/web:broken"
        bed.build(broken, "broken", cmd=EXIT_CMD)
        bed.publish(registry, broken, "demo/web", "prod")
        print(f"\npublished a broken image (it exits at once) as {ref}")
        try:
            docker_deploy.redeploy(name, ref, **spec)
            ok = False
        except docker_deploy.RolledBack as err:
            print(f"RolledBack: {err}")
            print("steps:", ", ".join(s["step"] for s in err.report["steps"]))
        print(f"HTTP answers: {wait_http(port, 'v2')}")
        ok = ok and wait_http(port, "v2") == "v2"

        # The same flow through Salt, with the example state of examples/salt.
        print("\n=== through Salt: examples/salt/states/webapp.sls, tag from pillar (qa)")
        salt_name, salt_port = f"{name}-salt", free_port()
        bed.publish(registry, f"saltext-demo-{bed.run_id}/web:v1", "demo/web", "qa")
        conf = salt_call_setup(
            bed.workdir / "salt",
            {
                "name": salt_name,
                "image": f"{registry.host}/demo/web",
                "env": "qa",
                "bind": "127.0.0.1",
                "port": salt_port,
                "labels": bed.labels,
            },
        )
        salt_apply(conf, "first deploy")
        print(f"HTTP answers: {wait_http(salt_port, 'v1')}")
        bed.publish(registry, f"saltext-demo-{bed.run_id}/web:v2", "demo/web", "qa")
        salt_apply(conf, "v2 pushed: what would change?", "test=True")
        salt_apply(conf, "v2 pushed")
        print(f"HTTP answers: {wait_http(salt_port, 'v2')}")
        salt_apply(conf, "nothing changed")
        ok = ok and wait_http(salt_port, "v2") == "v2"
        print("\ndemo:", "OK" if ok else "UNEXPECTED RESULT")
        return 0 if ok else 1
    finally:
        registry.stop()
        bed.cleanup()


if __name__ == "__main__":
    sys.exit(main())
