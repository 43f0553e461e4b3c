"""A pinned digest (`digest=`, what a fleet rollout hands every minion): the image of that
manifest digest is deployed, pulled by digest when it is not here, while the container keeps
following its tag; `resolve()` asks the registry for a tag's digest without pulling. Against
the real Engine and registry."""

from __future__ import annotations

import time

import pytest

from saltext import docker_deploy
from tests.support.testbed import (
    container_events,
    docker,
    inspect,
    remove_containers_and_volumes,
)

LABELS = "io.saltext.docker-deploy."


def test_resolve_asks_the_registry_and_pulls_nothing(app):
    ref = app.publish("v1")
    resolved = docker_deploy.resolve(ref)
    assert resolved["image"] == ref and resolved["via"] == "registry"
    assert resolved["digest"] == docker_deploy.check(ref)["remote_digest"]
    assert resolved["reference"] == f"{app.registry.host}/{app.repo}@{resolved['digest']}"
    app.publish("v2")
    assert docker_deploy.resolve(ref)["digest"] != resolved["digest"]
    with pytest.raises(docker_deploy.ImageNotFound):
        docker_deploy.resolve(f"{app.registry.host}/{app.repo}:no-such-tag")


def test_a_pinned_digest_is_deployed_while_the_container_follows_its_tag(app):
    ref = app.publish("v1")
    first = docker_deploy.resolve(ref)["digest"]
    app.publish("v2")  # the tag moved on; the pin holds

    # In a dry run: the pinned image, not the tag's, would be deployed.
    predicted = app.deploy(digest=first, dry_run=True)
    assert predicted["action"] == "created" and inspect(app.name) is None
    # (not on this host by that digest yet: the prediction names it by the digest; without
    # the pin it would name the tag's, v2's)
    assert predicted["image_id"] == first, predicted

    report = app.deploy(digest=first)
    assert report["action"] == "created"
    assert report["digest"] == f"{app.registry.host}/{app.repo}@{first}"
    labels = inspect(app.name)["Config"]["Labels"]
    assert labels[LABELS + "image"] == ref
    assert labels[LABELS + "digest"] == report["digest"]
    pinned_id = inspect(app.name)["Image"]
    assert pinned_id != docker_deploy.pull(ref)["id"]

    assert pinned_id == docker("image", "inspect", "-f", "{{.Id}}", app.images["v1"])

    # Again with the same pin: nothing to do, no Engine event; the registry is not asked
    # (no check, no pull: a digest names one image for good).
    since = time.time()
    again = app.deploy(digest=first)
    assert again["action"] == "none", again["comment"]
    assert not {"check", "pull"} & {step["step"] for step in again["steps"]}, again["steps"]
    assert container_events(since, time.time() + 1, app.name) == []

    # A group entry takes the pin the same way.
    (entry,) = docker_deploy.redeploy_group(
        [{"name": app.name, "image": ref, "digest": first, **app.spec(min_uptime=0.5)}]
    )
    assert entry["report"]["action"] == "none", entry

    # Without the pin, the next run follows the tag again.
    followed = app.deploy()
    assert followed["action"] == "replaced"
    assert followed["previous_image_id"] == pinned_id
    assert inspect(app.name)["Image"] != pinned_id


def test_the_pinned_digest_is_pulled_by_digest_and_the_local_tag_stays(app):
    ref = app.publish("v1")
    first = docker_deploy.resolve(ref)["digest"]
    app.publish("v2")
    local = docker_deploy.pull(ref)["id"]  # the local tag: v2
    by_digest = f"{app.registry.host}/{app.repo}@{first}"
    docker("rmi", by_digest, check=False)  # not on this host: the run pulls it
    try:
        report = app.deploy(digest=first)
        assert report["action"] == "created"
        assert any(step["step"] == "pull" for step in report["steps"])
        assert docker_deploy.pull(ref, pull_timeout=60)["previous_id"] == local
    finally:
        remove_containers_and_volumes([app.name])


@pytest.mark.parametrize(
    "digest",
    ["sha256:abc", "SHA256:" + "a" * 64, "md5:" + "a" * 32, "sha256:" + "A" * 64, 7, ""],
)
def test_a_malformed_digest_is_refused_by_name_before_any_docker_call(app, digest):
    with pytest.raises(docker_deploy.InvalidSpec) as raised:
        docker_deploy.redeploy(app.name, f"{app.registry.host}/{app.repo}:prod", digest=digest)
    assert "digest" in str(raised.value)
    assert inspect(app.name) is None


def test_a_digest_with_pull_false_is_refused(app):
    with pytest.raises(docker_deploy.InvalidSpec) as raised:
        docker_deploy.redeploy(
            app.name, f"{app.registry.host}/{app.repo}:prod", digest="sha256:" + "a" * 64,
            pull=False,
        )  # fmt: skip
    assert "not with pull=False" in str(raised.value)
    assert inspect(app.name) is None


def test_a_digest_that_is_not_the_references_own_is_refused(app):
    own, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    with pytest.raises(docker_deploy.InvalidSpec) as raised:
        docker_deploy.redeploy(app.name, f"{app.registry.host}/{app.repo}@{own}", digest=other)
    assert "is not the digest the image reference names" in str(raised.value)
