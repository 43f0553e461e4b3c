"""Continuous deployment the Salt way, on a real master and minions on loopback, a real
registry and the real Engine: every outcome on the master's event bus (and no secret in any
event); the `docker_deploy` beacon announcing a pushed tag once; and the whole push-to-deploy
chain: Debian's docker-registry notifies the master's webhook engine, the shipped reactor
checks the shared secret and starts `docker_deploy.update` of the pushed tag, and exactly the
containers that follow it are replaced, verified, with no manual apply.

Run with -s for the timings (push returned -> new container serving)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.cluster import EXAMPLES, only_state, salt_cluster
from tests.support.testbed import (
    Registry,
    container_events,
    free_port,
    inspect,
    wait_for,
    wait_http,
)

CANARY_PASSWORD = "canary-pass-" + secrets.token_hex(6)
CANARY_ENV = "canary-env-" + secrets.token_hex(6)
SECRET = secrets.token_hex(16)
_serial = itertools.count(1)

# The example state with a secret variable and registry credentials (the registry takes no
# auth: the pillar's password travels to the Engine and must surface nowhere).
EVENTS_STATE = """\
{%- set app = pillar['webapp'] %}
{{ app['name'] }}:
  docker_deploy.deployed:
    - image: {{ app['image'] }}
    - tag: {{ app['env'] }}
    - port_bindings: ["127.0.0.1:{{ app['port'] }}:80"]
    - environment: {APP_ENV: {{ app['env'] }}, DB_PASSWORD: CANARY_ENV}
    - labels: {{ app['labels'] | json }}
    - shutdown_timeout: 5
    - min_uptime: 0.5
    - health_timeout: 20
""".replace("CANARY_ENV", CANARY_ENV)


def events_of(seen, outcome):
    """The data of the minions' events of `outcome` (Salt puts a minion's event data under
    `data`, beside the minion's `id`)."""
    found = []
    for _, tag, event in seen:
        if tag == f"saltext/docker_deploy/{outcome}":
            assert event["data"]["minion"] == event["id"]
            found.append(event["data"])
    return found


def settle(seen, quiet: float = 3.0, timeout: float = 60.0) -> None:
    """Waits until no event has come for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if len(seen) != count:
            count, since = len(seen), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)


@pytest.fixture
def events_cluster(app):
    minion = "dd-ev"
    beacon = "beacons:\n  docker_deploy:\n    - interval: 2\n"
    with salt_cluster(app, {minion: "qa"}, minion_extra=beacon) as cluster:
        (cluster.root / "states" / "webapp.sls").write_text(EVENTS_STATE)
        (cluster.root / "pillar" / f"{minion}.sls").write_text(
            json.dumps(
                {
                    **json.loads((cluster.root / "pillar" / f"{minion}.sls").read_text()),
                    "docker-registries": {
                        app.registry.host: {"username": "ci", "password": CANARY_PASSWORD}
                    },
                }
            )
        )
        cluster.salt(minion, "saltutil.refresh_pillar")
        yield cluster, minion


def test_every_outcome_is_one_event_on_the_master_and_no_secret_is_in_any(app, events_cluster):
    cluster, minion = events_cluster
    name = cluster.container(minion)
    app.publish("v1", tag="qa")
    with cluster.events("saltext/docker_deploy/*") as seen:
        created = only_state(cluster.salt(minion, "state.apply")[minion])
        assert created["result"] is True, created["comment"]
        wait_for(lambda: events_of(seen, "created"), timeout=20)
        first = inspect(name)["Image"]

        # A healthy new image: exactly one `replaced`, with what changed.
        app.publish("v2", tag="qa")
        replaced = only_state(cluster.salt(minion, "state.apply")[minion])
        assert replaced["result"] is True, replaced["comment"]
        wait_for(lambda: events_of(seen, "replaced"), timeout=20)

        # A no-op: nothing.
        noop = only_state(cluster.salt(minion, "state.apply")[minion])
        assert noop["result"] is True and noop["changes"] == {}

        # A bad image: one `rolled_back`, with the HEALTHCHECK's output.
        app.publish("unhealthy", tag="qa")
        failed = only_state(cluster.salt(minion, "state.apply")[minion])
        assert failed["result"] is False and "RolledBack" in failed["comment"]
        wait_for(lambda: events_of(seen, "rolled_back"), timeout=20)
        # test=True: nothing either.
        predicted = only_state(cluster.salt(minion, "state.apply", "test=True")[minion])
        assert predicted["result"] is None
        settle(seen)

    tags = [tag for _, tag, _ in seen]
    assert tags == [
        "saltext/docker_deploy/created",
        "saltext/docker_deploy/replaced",
        "saltext/docker_deploy/rolled_back",
    ], tags
    (event,) = events_of(seen, "replaced")
    print(f"[push-to-deploy] the master's event: {json.dumps(event)}")
    assert event["minion"] == minion and event["name"] == name
    assert event["image"] == f"{app.registry.host}/{app.repo}:qa"
    assert event["old_image_id"] == first and event["new_image_id"] == inspect(name)["Image"]
    assert (
        event["new_digest"] and event["old_digest"] and event["new_digest"] != event["old_digest"]
    )
    assert event["strategy"] == "create-first" and event["downtime_ms"] > 0
    assert {"create", "stop", "start", "verify"} <= {s["step"] for s in event["steps"]}
    assert all(s["duration_ms"] >= 0 for s in event["steps"])
    (rolled,) = events_of(seen, "rolled_back")
    assert rolled["failure"]["step"] == "verify"
    assert "db unreachable" in rolled["failure"]["reason"], rolled["failure"]
    everything = json.dumps([data for _, _, data in seen])
    assert CANARY_PASSWORD not in everything and CANARY_ENV not in everything


def test_the_beacon_announces_a_pushed_tag_once(app, events_cluster):
    cluster, minion = events_cluster
    app.publish("v1", tag="qa")
    assert only_state(cluster.salt(minion, "state.apply")[minion])["result"] is True
    with cluster.events(f"salt/beacon/{minion}/docker_deploy/*") as seen:
        time.sleep(5)  # two intervals up to date: nothing
        assert seen == []
        app.publish("v2", tag="qa")
        pushed = time.monotonic()
        assert wait_for(lambda: seen, timeout=4 + 3, interval=0.2), "no update_available"
        took = time.monotonic() - pushed
        time.sleep(5)  # two more intervals, no new push: nothing more
    print(f"[push-to-deploy] beacon: update_available {took:.1f} s after the push")
    ((_, tag, data),) = seen
    assert tag == f"salt/beacon/{minion}/docker_deploy/update_available"
    assert data["image"] == f"{app.registry.host}/{app.repo}:qa"
    assert data["containers"] == [cluster.container(minion)] and data["id"] == minion
    assert data["digest"].startswith("sha256:")


class Sink(ThreadingHTTPServer):
    """A second notification endpoint of the registry: keeps every body it is sent (to
    deliver one again, as the registry may)."""

    def __init__(self):
        bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies = bodies
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def pushes_of(self, tag: str) -> list[bytes]:
        """The notifications that carry a push of the manifest `tag`."""
        return [
            body
            for body in self.bodies
            if any(
                e.get("action") == "push" and e.get("target", {}).get("tag") == tag
                for e in json.loads(body).get("events", [])
            )
        ]


MINIONS = {"dd-q1": "qa", "dd-q2": "qa", "dd-p1": "prod"}


@pytest.fixture
def push_chain(app, bed):
    hook = free_port()
    sink = Sink()
    registry = Registry(
        bed.workdir / f"registry-notify-{next(_serial)}",
        notify=[
            (f"http://127.0.0.1:{hook}/docker_deploy/push", {"Authorization": f"Bearer {SECRET}"}),
            (sink.url, {}),
        ],
    )
    pushed = dataclasses.replace(app, registry=registry)
    master = (
        f"engines:\n  - webhook:\n      address: 127.0.0.1\n      port: {hook}\n"
        "reactor:\n  - 'salt/engines/hook/docker_deploy/push':\n"
        f"    - {EXAMPLES / 'reactor' / 'registry_push.sls'}\n"
        f"docker_deploy:\n  webhook_secret: {SECRET}\n"
    )
    try:
        with salt_cluster(pushed, MINIONS, master_extra=master) as cluster:
            cluster.hook = f"http://127.0.0.1:{hook}/docker_deploy/push"
            yield pushed, cluster, sink
    finally:
        pushed.remove()
        registry.stop()
        sink.shutdown()


def post(url: str, body: bytes, secret: str | None) -> None:
    headers = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10).close()


def serving(cluster, minions, version, since):
    """Seconds from `since` until each minion's container serves `version`."""
    took = {}
    for minion in minions:
        assert wait_http(cluster.ports[minion], version, timeout=90) == version, minion
        took[minion] = time.monotonic() - since
    return took


def test_a_push_redeploys_exactly_the_containers_of_that_tag(push_chain):
    app, cluster, sink = push_chain
    qa, prod = ("dd-q1", "dd-q2"), ("dd-p1",)
    app.publish("v1", tag="qa")
    app.publish("v1", tag="prod")
    for minion, result in cluster.salt("*", "state.apply").items():
        assert only_state(result)["result"] is True, (minion, result)
    first = {m: inspect(cluster.container(m))["Id"] for m in MINIONS}
    time.sleep(3)  # the v1 notifications' updates find nothing to do

    with cluster.events("saltext/docker_deploy/*") as seen:
        since = time.time()
        app.publish("v2", tag="qa")
        pushed = time.monotonic()
        took = serving(cluster, qa, "v2", pushed)
        settle(seen)
        until = time.time()
    print(f"[push-to-deploy] :qa pushed -> serving on 2 minions: {took}")
    assert sorted(d["minion"] for d in events_of(seen, "replaced")) == list(qa)
    assert [tag for _, tag, _ in seen if not tag.endswith("/replaced")] == []
    assert container_events(since, until, cluster.container("dd-p1")) == []
    assert wait_http(cluster.ports["dd-p1"], "v1") == "v1"
    second = {m: inspect(cluster.container(m))["Id"] for m in qa}
    assert all(second[m] != first[m] for m in qa)

    # The same notification again (the registry delivers at least once), twice: the tag's
    # digest runs already, nothing is replaced. Without the secret: no job at all.
    (delivered,) = sink.pushes_of("qa")[-1:]
    with cluster.events("*") as seen:
        post(cluster.hook, delivered, SECRET)
        post(cluster.hook, delivered, SECRET)
        post(cluster.hook, delivered, None)
        post(cluster.hook, delivered, "wrong")
        settle(seen, quiet=5)
    jobs = [d for _, t, d in seen if t.startswith("salt/job/") and t.endswith("/new")]
    assert [j["fun"] for j in jobs] == ["docker_deploy.update"] * 2, jobs
    returns = [d for _, t, d in seen if t.startswith("salt/job/") and "/ret/" in t]
    assert len(returns) == 2 * len(MINIONS)
    for ret in returns:
        assert all(e["report"]["action"] == "none" for e in ret["return"]), ret
    assert not [t for _, t, _ in seen if t.startswith("saltext/docker_deploy/")]
    assert {m: inspect(cluster.container(m))["Id"] for m in qa} == second

    # A tag nobody follows: the minions are asked, none redeploys anything.
    with cluster.events("saltext/docker_deploy/*") as seen:
        since = time.time()
        app.publish("v3", tag="dev")
        time.sleep(8)
        until = time.time()
    assert seen == []
    assert container_events(since, until, app.name) == []

    # One minion on :prod; then all three on :qa (the prod minion switched by its pillar).
    pushed_at = time.monotonic()
    app.publish("v2", tag="prod")
    took_one = serving(cluster, prod, "v2", pushed_at)
    print(f"[push-to-deploy] :prod pushed -> serving on 1 minion: {took_one}")
    pillar = cluster.root / "pillar" / "dd-p1.sls"
    pillar.write_text(pillar.read_text().replace('"env": "prod"', '"env": "qa"'))
    cluster.salt("dd-p1", "saltutil.refresh_pillar")
    assert only_state(cluster.salt("dd-p1", "state.apply")["dd-p1"])["result"] is True
    pushed_at = time.monotonic()
    app.publish("v3", tag="qa")
    took_three = serving(cluster, MINIONS, "v3", pushed_at)
    print(f"[push-to-deploy] :qa pushed -> serving on 3 minions: {took_three}")
