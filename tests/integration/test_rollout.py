"""Fleet rollouts from the master (`salt-run docker_deploy.rollout`), on a real master with
three minions on loopback, a real registry and the real Engine; each minion has its own
container name and port from its pillar.

Run with -s to see the rollout reports as salt-run printed them."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from datetime import datetime

import pytest

from saltext.docker_deploy import resolve as _resolve
from tests.support.apps import App
from tests.support.cluster import EXAMPLES, only_state, salt_cluster
from tests.support.testbed import container_events, docker, free_port, inspect, wait_http

MINIONS = ["dd-r1", "dd-r2", "dd-r3"]

# The example state, with a HEALTHCHECK from the pillar when one is set there (to make one
# minion's deploy fail), and a short proof of life.
STATE = """\
{%- set app = pillar['webapp'] %}
{{ app['name'] }}:
  docker_deploy.deployed:
    - image: {{ app['image'] }}
    - tag: {{ app['env'] }}
    - port_bindings: ["127.0.0.1:{{ app['port'] }}:80"]
    - labels: {{ app['labels'] | json }}
    - shutdown_timeout: 5
    - min_uptime: 0.5
    - health_timeout: 20
{%- if app.get('healthcheck') %}
    - healthcheck: {{ app['healthcheck'] | json }}
{%- endif %}
"""

FAILING_CHECK = {
    "test": ["CMD", "/bin/busybox", "sh", "-c", "echo disk full; exit 1"],
    "interval": 1,
    "retries": 1,
}


@pytest.fixture(scope="module")
def fleet(bed, registry, images):
    app = App(
        bed=bed,
        registry=registry,
        images=images,
        name=f"ddtest-{bed.run_id}-fleet",
        repo="fleet",
        port=free_port(),
    )
    try:
        with salt_cluster(app, dict.fromkeys(MINIONS, "prod")) as cluster:
            (cluster.root / "states" / "webapp.sls").write_text(STATE)
            yield cluster, app
    finally:
        app.remove()


def repo_images(app) -> str:
    """The local images of the app's repository, with their digests."""
    listing = ("images", "--digests", "--no-trunc", "--format", "{{.ID}} {{.Tag}} {{.Digest}}")
    return docker(*listing, f"{app.registry.host}/{app.repo}")


def on_everywhere(fleet_, version: str) -> str:
    """Every minion's container on `version` (applied with plain state.apply): its image ID."""
    cluster, app = fleet_
    app.publish(version)
    applied = cluster.salt("dd-r*", "state.apply")
    assert sorted(applied) == MINIONS, applied
    for minion in MINIONS:
        state = only_state(applied[minion])
        assert state["result"] is True, (minion, state["comment"])
        assert wait_http(cluster.ports[minion], version), minion
    return image_of(cluster, MINIONS[0])


def image_of(cluster, minion: str) -> str:
    return inspect(cluster.container(minion))["Image"]


def serves(cluster, minion: str, version: str) -> bool:
    return wait_http(cluster.ports[minion], version, timeout=5) is not None


def rollout(cluster, *args: str) -> dict:
    report, printed = cluster.salt_run("docker_deploy.rollout", "tgt=dd-r*", "mods=webapp", *args)
    print(f"[rollout] salt-run docker_deploy.rollout {' '.join(args)}\n{printed}")
    assert isinstance(report, dict), printed
    return report


def set_pillar(cluster, minion: str, **values) -> None:
    path = cluster.root / "pillar" / f"{minion}.sls"
    pillar = json.loads(path.read_text())
    pillar["webapp"].update(values)
    path.write_text(json.dumps(pillar))


@contextmanager
def watching(cluster, *minions: str):
    """The Engine's events of the minions' containers while the block runs."""
    since = time.time()
    seen: dict[str, list] = {}
    yield seen
    until = time.time() + 1
    for minion in minions:
        seen[minion] = container_events(since, until, cluster.container(minion))


def resolve(ref: str) -> str:
    return _resolve(ref)["digest"]


def stamp(text: str) -> float:
    """An Engine or Salt timestamp (UTC, ISO 8601 with up to nanoseconds, `Z` or `+00:00`)
    as epoch seconds."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]00:00)?$", text)
    assert match, text
    whole = datetime.fromisoformat(match.group(1) + "+00:00").timestamp()
    return whole + float(match.group(2) or 0)


def test_a_healthy_image_goes_canary_first_then_in_batches_onto_one_image(fleet):
    cluster, app = fleet
    old = on_everywhere(fleet, "v1")
    app.publish("v2")
    with cluster.events("saltext/docker_deploy/rollout/*") as seen:
        report = rollout(cluster, "canary=1", "batch=2")
        time.sleep(1)
    assert report["result"] is True, report["comment"]
    assert report["batches"] == [["dd-r1"], ["dd-r2", "dd-r3"]]
    assert [m["minion"] for m in report["minions"]] == MINIONS
    assert [m["batch"] for m in report["minions"]] == ["canary", "batch 1", "batch 1"]
    new = image_of(cluster, "dd-r1")
    assert new != old
    for entry in report["minions"]:
        assert entry["outcome"] == "changed", entry
        assert entry["old_image_id"] == old and entry["new_image_id"] == new
        assert entry["downtime_ms"] > 0 and entry["duration_s"] > 0
        assert image_of(cluster, entry["minion"]) == new
        assert serves(cluster, entry["minion"], "v2")
    (image,) = report["images"]
    assert image == f"{app.registry.host}/{app.repo}:prod"
    assert report["images"][image].startswith("sha256:")
    # The canary was verified before the batch's containers were created.
    tags = [tag.rsplit("/", 1)[-1] for _, tag, _ in seen]
    assert tags == ["started", "batch", "batch", "finished"], tags
    canary_done = stamp(seen[1][2]["_stamp"])
    for minion in ("dd-r2", "dd-r3"):
        assert stamp(inspect(cluster.container(minion))["Created"]) > canary_done, minion
    # The containers still follow the tag, and record the digest they were deployed from.
    labels = inspect(cluster.container("dd-r2"))["Config"]["Labels"]
    assert labels["io.saltext.docker-deploy.image"] == image
    assert labels["io.saltext.docker-deploy.digest"].endswith(report["images"][image])


def test_a_canary_that_rolls_back_stops_the_rollout_and_nobody_else_is_touched(fleet):
    cluster, app = fleet
    good = on_everywhere(fleet, "v2")
    app.publish("unhealthy")
    with watching(cluster, "dd-r2", "dd-r3") as engine:
        report = rollout(cluster, "canary=1", "batch=1")
    assert report["result"] is False
    stopped = report["stopped"]
    assert stopped["minion"] == "dd-r1" and stopped["outcome"] == "rolled_back"
    assert "db unreachable" in stopped["reason"], stopped
    assert stopped["not_started"] == ["dd-r2", "dd-r3"]
    assert [m["minion"] for m in report["minions"]] == ["dd-r1"]

    # The shipped orchestration stops the same way, and its next step hears of it.
    orch = cluster.root / "states" / "orch"
    orch.mkdir(exist_ok=True)
    (orch / "rollout.sls").write_text((EXAMPLES / "orch" / "rollout.sls").read_text())
    pillar = json.dumps({"rollout": {"tgt": "dd-r*", "pause": 0}})
    with cluster.events("ops/webapp/*") as announced:
        orchestrated, printed = cluster.salt_run(
            "state.orchestrate", "orch.rollout", f"pillar={pillar}"
        )
        time.sleep(1)
    print(f"[rollout] salt-run state.orchestrate orch.rollout\n{printed}")
    steps = {key.split("_|-")[1]: step for key, step in orch_steps(orchestrated).items()}
    assert steps["webapp rollout"]["result"] is False
    ran = steps["webapp rollout"]["changes"]["return"]
    assert ran["stopped"]["minion"] == "dd-r1" and ran["stopped"]["outcome"] == "rolled_back"
    assert steps["webapp rollout stopped"]["result"] is True
    assert [tag for _, tag, _ in announced] == ["ops/webapp/rollout-stopped"]

    assert engine == {"dd-r2": [], "dd-r3": []}
    for minion in MINIONS:
        assert image_of(cluster, minion) == good
        assert serves(cluster, minion, "v2")


def orch_steps(orchestrated) -> dict:
    """The state results of an orchestration's return: {state key: result}."""
    data = orchestrated.get("data", orchestrated) if isinstance(orchestrated, dict) else None
    assert isinstance(data, dict), orchestrated
    (steps,) = data.values()
    assert isinstance(steps, dict), orchestrated
    return steps


def test_a_tag_that_moves_during_the_rollout_does_not_split_the_fleet(fleet):
    cluster, app = fleet
    on_everywhere(fleet, "v1")
    app.publish("v3", tag="v3-staged")
    app.publish("v2")
    with cluster.events("saltext/docker_deploy/rollout/*") as seen:
        pushed = []

        def push_after_the_canary():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(tag.endswith("/batch") for _, tag, _ in seen):
                    # The tag moves between the batches (a manifest put: v3 was pushed before).
                    app.registry.retag(app.repo, "v3-staged", "prod")
                    pushed.append(time.time())
                    return
                time.sleep(0.1)

        pusher = threading.Thread(target=push_after_the_canary)
        pusher.start()
        report = rollout(cluster, "canary=1", "batch=1", "pause=3")
        pusher.join()
    assert report["result"] is True, report["comment"]
    (pinned,) = report["images"].values()
    # The tag had moved before the later batches deployed (else this proves nothing).
    assert pushed, "the tag was not moved during the rollout"
    for minion in ("dd-r2", "dd-r3"):
        assert stamp(inspect(cluster.container(minion))["Created"]) > pushed[0], minion
    assert pinned != resolve(app.ref)
    ids = {image_of(cluster, minion) for minion in MINIONS}
    assert len(ids) == 1, ids
    for minion in MINIONS:
        assert serves(cluster, minion, "v2"), minion
        digest = inspect(cluster.container(minion))["Config"]["Labels"]
        assert digest["io.saltext.docker-deploy.digest"].endswith(pinned)
    # An ordinary run afterwards follows the tag again.
    state = only_state(cluster.salt("dd-r1", "state.apply")["dd-r1"])
    assert state["result"] is True and state["changes"], state["comment"]
    assert serves(cluster, "dd-r1", "v3")


def test_test_mode_says_who_would_change_in_which_batch_and_changes_nothing(fleet):
    cluster, app = fleet
    before = on_everywhere(fleet, "v1")
    app.publish("v2")
    local_images = repo_images(app)
    with cluster.events("saltext/docker_deploy/*") as fired, watching(cluster, *MINIONS) as engine:
        report = rollout(cluster, "canary=1", "batch=50%", "test=True")
        time.sleep(1)
    assert fired == []  # no rollout event, no minion's event
    assert repo_images(app) == local_images  # nothing pulled, by tag or by digest
    assert report["result"] is None, report["comment"]
    assert report["batches"] == [["dd-r1"], ["dd-r2", "dd-r3"]]
    assert [(m["minion"], m["batch"], m["outcome"]) for m in report["minions"]] == [
        ("dd-r1", "canary", "would_change"),
        ("dd-r2", "batch 1", "would_change"),
        ("dd-r3", "batch 1", "would_change"),
    ]
    assert engine == {minion: [] for minion in MINIONS}
    assert {image_of(cluster, minion) for minion in MINIONS} == {before}


def test_a_failing_second_batch_brings_the_first_back_when_asked(fleet):
    cluster, app = fleet
    good = on_everywhere(fleet, "v2")
    set_pillar(cluster, "dd-r3", healthcheck=FAILING_CHECK)
    try:
        app.publish("v3")
        report = rollout(cluster, "canary=1", "batch=2", "rollback_on_failure=True")
    finally:
        set_pillar(cluster, "dd-r3", healthcheck=None)
    assert report["result"] is False
    assert report["stopped"]["minion"] == "dd-r3"
    assert report["stopped"]["outcome"] == "rolled_back"
    assert "disk full" in report["stopped"]["reason"]
    outcomes = {m["minion"]: m["outcome"] for m in report["minions"]}
    assert outcomes == {"dd-r1": "changed", "dd-r2": "changed", "dd-r3": "rolled_back"}
    assert sorted((r["minion"], r["result"]) for r in report["rolled_back"]) == [
        ("dd-r1", True),
        ("dd-r2", True),
    ]
    for minion in MINIONS:
        assert image_of(cluster, minion) == good, minion
        assert serves(cluster, minion, "v2"), minion


def test_a_minion_that_does_not_answer_stops_the_rollout_or_is_passed_over(fleet):
    cluster, app = fleet
    on_everywhere(fleet, "v1")
    app.publish("v2")
    cluster.stop_minion("dd-r2")
    try:
        started = time.monotonic()
        report = rollout(cluster, "canary=1", "batch=1", "timeout=5", "images=" + app.ref)
        took = time.monotonic() - started
        assert report["result"] is False
        assert report["stopped"]["minion"] == "dd-r2"
        assert report["stopped"]["outcome"] == "no_answer"
        assert report["stopped"]["not_started"] == ["dd-r3"]
        assert serves(cluster, "dd-r3", "v1")
        # timeout, and Salt's own question whether the job still runs (at most as long).
        assert took < 5 + 5 + 15, took
        print(f"[rollout] a minion that does not answer: stopped after {took:.1f} s")

        report = rollout(cluster, "canary=1", "batch=1", "timeout=5", "max_failures=1")
        assert report["result"] is True, report["comment"]
        outcomes = [(m["minion"], m["outcome"]) for m in report["minions"]]
        assert outcomes == [("dd-r1", "unchanged"), ("dd-r2", "no_answer"), ("dd-r3", "changed")]
        assert serves(cluster, "dd-r3", "v2")
    finally:
        cluster.start_minion("dd-r2")


GROUP_STATE = """\
{%- set app = pillar['webapp'] %}
fleet group:
  docker_deploy.group:
    - image: {{ app['image'] }}
    - tag: {{ app['env'] }}
    - labels: {{ app['labels'] | json }}
    - shutdown_timeout: 5
    - min_uptime: 0.5
    - containers:
      - name: {{ app['name'] }}
        port_bindings: ["127.0.0.1:{{ app['port'] }}:80"]
"""


def test_a_group_state_on_listed_minions_is_pinned_with_the_groups_own_tag(fleet):
    cluster, app = fleet
    on_everywhere(fleet, "v1")
    (cluster.root / "states" / "fleetgroup.sls").write_text(GROUP_STATE)
    app.publish("v2")
    with watching(cluster, "dd-r3") as engine:
        report, printed = cluster.salt_run(
            "docker_deploy.rollout", "tgt=dd-r1,dd-r2", "tgt_type=list", "mods=fleetgroup",
            "canary=1", "batch=1",
        )  # fmt: skip
    print(f"[rollout] a group state, tgt_type=list\n{printed}")
    assert report["result"] is True, printed
    assert report["images"] == {app.ref: resolve(app.ref)}
    assert [(m["minion"], m["outcome"]) for m in report["minions"]] == [
        ("dd-r1", "changed"),
        ("dd-r2", "changed"),
    ]
    for minion in ("dd-r1", "dd-r2"):
        labels = inspect(cluster.container(minion))["Config"]["Labels"]
        assert labels["io.saltext.docker-deploy.digest"].endswith(report["images"][app.ref])
        assert serves(cluster, minion, "v2")
    assert engine == {"dd-r3": []} and serves(cluster, "dd-r3", "v1")
