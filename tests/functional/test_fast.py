"""The fast paths, on the real engine: the pull policy (`if-changed` asks the registry first and
pulls only when the digest moved) and redeploying a group of containers concurrently."""

from __future__ import annotations

import json
import time

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import InvalidSpec
from tests.support.deploying import Run
from tests.support.testbed import docker, engine_events, free_port, inspect, wait_http


def pulls_of(app, since: float, until: float) -> list[dict]:
    return [
        e
        for e in engine_events(since, until, "image")
        if e["Action"] == "pull" and app.repo in e["Actor"]["ID"]
    ]


def test_if_changed_asks_the_registry_and_pulls_only_when_the_digest_moved(app):
    app.publish("v1")
    assert app.deploy()["action"] == "created"

    since = time.time()
    noop = app.deploy()
    until = time.time()
    assert noop["action"] == "none" and noop["pull"]["changed"] is False
    assert pulls_of(app, since, until) == [], "if-changed (the default) must not pull"
    assert [s["step"] for s in noop["steps"]][:1] == ["check"]

    since = time.time()
    app.deploy(pull_policy="always")
    until = time.time()
    assert len(pulls_of(app, since, until)) == 1, "always pulls, even with nothing new"

    app.publish("v2")
    since = time.time()
    moved = app.deploy()
    until = time.time()
    assert moved["action"] == "replaced" and moved["pull"]["changed"] is True
    assert len(pulls_of(app, since, until)) == 1
    assert wait_http(app.port, "v2") == "v2"


def test_missing_pulls_only_a_tag_that_is_not_here(app):
    app.publish("v1")
    assert app.deploy(pull_policy="missing")["action"] == "created"
    app.publish("v2")
    stays = app.deploy(pull_policy="missing")
    assert stays["action"] == "none" and stays["pull"] is None, "the local tag is used as is"
    assert wait_http(app.port, "v1") == "v1"
    docker("rmi", app.ref)  # the container keeps its image; only the tag goes
    moved = app.deploy(pull_policy="missing")
    assert moved["action"] == "replaced" and moved["pull"]["changed"] is True
    assert wait_http(app.port, "v2") == "v2"


def test_an_unknown_pull_policy_is_invalid_before_any_call(app):
    app.publish("v1")
    with pytest.raises(InvalidSpec, match="sometimes"):
        app.deploy(pull_policy="sometimes")
    assert inspect(app.name) is None


def group_of(app, count: int) -> list[dict]:
    return [
        {
            "name": f"{app.name}-g{i}",
            "image": app.ref,
            "labels": app.bed.labels,
            "port_bindings": [f"127.0.0.1:{port}:80"],
            "min_uptime": 1,
        }
        for i, port in ((i, free_port()) for i in range(count))
    ]


def port_of(entry: dict) -> int:
    return int(entry["port_bindings"][0].split(":")[1])


@pytest.fixture
def group(app):
    app.publish("v1")
    entries = group_of(app, 3)
    yield entries
    docker("rm", "-f", *[e["name"] for e in entries], check=False)


def test_a_group_redeploys_concurrently_and_a_failure_stays_its_own(app, group):
    created = docker_deploy.redeploy_group(group, concurrency=3)
    assert [e["report"]["action"] for e in created] == ["created"] * 3
    app.publish("v2")
    # The middle one is pointed at an image that exits at once.
    group[1]["image"] = app.bed.publish(
        app.registry, app.images["exits"], f"{app.repo}-bad", "prod"
    )

    since = time.time()
    results = docker_deploy.redeploy_group(group, concurrency=3)
    until = time.time()
    assert [e["name"] for e in results] == [e["name"] for e in group], "in the given order"
    ok = [results[0], results[2]]
    assert all(e["report"]["action"] == "replaced" and e["error"] is None for e in ok)
    assert results[1]["report"] is None and results[1]["error"] == "RolledBack"
    assert "exit code 3" in results[1]["message"]
    assert wait_http(port_of(group[0]), "v2") == "v2"
    assert wait_http(port_of(group[1]), "v1") == "v1", "the failed one rolled back on its own"
    assert wait_http(port_of(group[2]), "v2") == "v2"

    # Concurrent: every new container was created before any old one was removed (each old one
    # goes only after its new one passed min_uptime). One at a time would interleave them.
    events = [
        e
        for e in engine_events(since, until, "container")
        if e["Actor"]["Attributes"].get("name", "").startswith(app.name)
    ]
    actions = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in events]
    creates = [i for i, (a, _) in enumerate(actions) if a == "create"]
    destroys = [i for i, (a, _) in enumerate(actions) if a == "destroy"]
    assert len(creates) == 3 and destroys, actions
    assert max(creates) < min(destroys), actions
    # Every tag was pulled before any container was touched (pulls on an Engine busy starting
    # and stopping containers are slow).
    pulled = [e["timeNano"] for e in engine_events(since, until, "image") if e["Action"] == "pull"]
    touched = [e["timeNano"] for e in events]
    assert len(pulled) >= 2 and max(pulled) < min(touched), (pulled, actions)


def test_a_group_with_concurrency_one_goes_one_at_a_time(app, group):
    # A repository each, so that each entry has its own tag to pull.
    repos = [f"{app.repo}-one{i}" for i in range(len(group))]
    for entry, repo in zip(group, repos, strict=True):
        entry["image"] = app.bed.publish(app.registry, app.images["v1"], repo, "prod")
    docker_deploy.redeploy_group(group, concurrency=1)
    for repo in repos:
        app.bed.publish(app.registry, app.images["v2"], repo, "prod")
    since = time.time()
    results = docker_deploy.redeploy_group(group, concurrency=1)
    until = time.time()
    assert [r["report"]["action"] for r in results] == ["replaced"] * 3, results
    events = [
        e
        for e in engine_events(since, until, "container")
        if e["Actor"]["Attributes"].get("name", "").startswith(app.name)
    ]
    actions = [e["Action"] for e in events if e["Action"] in ("create", "destroy")]
    assert actions == ["create", "destroy"] * 3, actions
    # The three tags were pulled first, before any container was touched; one at a time, a
    # pull would otherwise come between one container's destroy and the next one's create.
    pulls = [e["timeNano"] for e in engine_events(since, until, "image") if e["Action"] == "pull"]
    assert len(pulls) == 3 and max(pulls) < min(e["timeNano"] for e in events), pulls


def test_a_group_entry_without_an_image_is_invalid_before_any_call(app):
    with pytest.raises(InvalidSpec, match="no image"):
        docker_deploy.redeploy_group([{"name": app.name}])
    with pytest.raises(InvalidSpec, match="replicas"):
        docker_deploy.redeploy_group([{"name": app.name, "image": "x", "replicas": 2}])


def test_a_group_no_op_settles_at_once_yet_recovers_what_a_killed_run_left(app, group, tmp_path):
    """The group's no-op path (one listing of containers and images under the locks) must not
    hide an interrupted run: the killed member is recovered, the others report no change and
    are not touched."""
    docker_deploy.redeploy_group(group, concurrency=3)
    killed = group[1]
    run = Run(
        app,
        tmp_path,
        pause="rename:1",
        name=killed["name"],
        port_bindings=killed["port_bindings"],
        force=True,
    )
    run.wait_paused()
    run.kill()
    assert len(app.bed.containers(killed["name"])) == 2, "the kill left a second container"

    since = time.time()
    results = docker_deploy.redeploy_group(group, concurrency=3)
    until = time.time()
    assert [e["error"] for e in results] == [None] * 3, results
    untouched = [results[0]["report"], results[2]["report"]]
    assert [r["action"] for r in untouched] == ["none", "none"]
    assert [[s["step"] for s in r["steps"]] for r in untouched] == [["check", "plan"]] * 2
    assert results[1]["report"]["recovered"], results[1]
    for entry in group:
        assert app.bed.containers(entry["name"]) == [entry["name"]]
        assert wait_http(port_of(entry), "v1") == "v1"
    touched = {
        e["Actor"]["Attributes"]["name"].split(".")[0]
        for e in engine_events(since, until, "container")
        if e["Action"] in ("create", "destroy", "start", "stop", "rename")
        and e["Actor"]["Attributes"].get("name", "").startswith(app.name)
    }
    assert touched <= {killed["name"]}, touched


DIGEST_LABEL = "io.saltext.docker-deploy.digest"


def test_a_group_no_op_compares_the_registry_with_the_digest_the_container_records(app, group):
    """Every container records the manifest digest its image was pulled under; a group's no-op
    compares the registry's digest with it and does not read the local tag, so a tag that went
    away locally is no reason to pull, while a tag that moved in the registry still is."""
    docker_deploy.redeploy_group(group, concurrency=3)
    repository = app.ref.rsplit(":", 1)[0]
    digests = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", app.ref))
    (pulled_as,) = [d for d in digests if d.startswith(f"{repository}@")]
    for entry in group:
        assert inspect(entry["name"])["Config"]["Labels"][DIGEST_LABEL] == pulled_as

    # Without a local tag, a check of the tag alone would call for a pull.
    docker("rmi", "-f", app.ref)
    since = time.time()
    results = docker_deploy.redeploy_group(group, concurrency=3)
    until = time.time()
    reports = [e["report"] for e in results]
    assert [r["action"] for r in reports] == ["none"] * 3, results
    assert [[s["step"] for s in r["steps"]] for r in reports] == [["check", "plan"]] * 3
    assert all("recorded digest" in r["steps"][0]["detail"] for r in reports), reports
    assert pulls_of(app, since, until) == [], "nothing moved in the registry: nothing to pull"
    assert json.loads(docker("image", "inspect", app.ref, check=False)) == [], "no tag came back"

    # A tag that moved in the registry is still seen, and the new containers record the new
    # digest (a single redeploy records it too).
    app.publish("v2")
    results = docker_deploy.redeploy_group(group[:2], concurrency=2)
    assert [e["report"]["action"] for e in results] == ["replaced"] * 2, results
    single = docker_deploy.redeploy(**group[2])
    assert single["action"] == "replaced"
    moved_to = results[0]["report"]["pull"]["digest"]
    assert moved_to != pulled_as and moved_to.startswith(f"{repository}@")
    for entry in group:
        assert inspect(entry["name"])["Config"]["Labels"][DIGEST_LABEL] == moved_to
        assert wait_http(port_of(entry), "v2") == "v2"


def test_a_container_whose_digest_is_unknown_records_it_empty(app):
    """A container inherits its image's labels: one deployed from an image committed from one of
    ours would carry that container's digest. Ours always set the label, empty when unknown."""
    app.publish("v1")
    assert app.deploy()["action"] == "created"
    committed = f"{app.ref.rsplit(':', 1)[0]}:committed"
    docker("commit", app.name, committed)
    try:
        inherited = json.loads(
            docker("image", "inspect", "-f", "{{json .Config.Labels}}", committed)
        )
        assert inherited[DIGEST_LABEL].startswith(app.ref.rsplit(":", 1)[0] + "@")
        # The tag is moved to the committed image by hand, and deployed as it is (no pull).
        docker("tag", committed, app.ref)
        report = app.deploy(pull_policy="never", force=True)
        assert report["action"] == "replaced"
        assert inspect(app.name)["Config"]["Labels"][DIGEST_LABEL] == ""
    finally:
        docker("rmi", "-f", committed, check=False)


def test_keep_images_of_one_entry_never_prunes_an_image_another_entry_deploys(app):
    """Two entries of one repository on two tags, both moved: the first one's keep_images=1
    ran before the second one was created and took the second one's (older) new image."""
    entries = [{**e, "keep_images": 1 if i == 0 else None} for i, e in enumerate(group_of(app, 2))]
    for entry, tag in zip(entries, ("a", "b"), strict=True):
        entry["image"] = app.bed.publish(app.registry, app.images["v1"], app.repo, tag)
    created = docker_deploy.redeploy_group(entries, concurrency=1)
    assert [e["report"]["action"] for e in created] == ["created"] * 2
    # New images for both tags: tag b's built first, so it is the older of the two.
    for tag, version in (("b", "v2"), ("a", "v3")):
        local = f"ddtest-{app.bed.run_id}/prune:{tag}-{time.monotonic_ns()}"
        app.bed.build(local, version)
        app.bed.publish(app.registry, local, app.repo, tag)
        docker("rmi", local)
    moved = docker_deploy.redeploy_group(entries, concurrency=1)
    assert [e["error"] for e in moved] == [None, None], moved
    assert [e["report"]["action"] for e in moved] == ["replaced"] * 2
    assert wait_http(port_of(entries[0]), "v3") == "v3"
    assert wait_http(port_of(entries[1]), "v2") == "v2"
    # Pruned once both were done, never an image an entry deploys (v1 is the session's image,
    # which other tags still name: kept, with a warning).
    report = moved[0]["report"]
    assert "prune" in [s["step"] for s in report["steps"]], report["steps"]
    in_use = {report["image_id"], moved[1]["report"]["image_id"]}
    assert not in_use & set(report["removed_images"]), report
    docker("rm", "-f", *[e["name"] for e in entries], check=False)
