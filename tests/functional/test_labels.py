"""Only labels this tool wrote count. A container carries its image's labels, and `docker
commit` copies a container's labels into the image: an image with our labels must never make
a foreign container pass for ours (to be removed or recovered) nor a changed one pass for up
to date.
"""

from __future__ import annotations

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import DeployError
from tests.support.deploying import assert_serving, identity, replica_ports
from tests.support.testbed import docker, inspect

PREFIX = "io.saltext.docker-deploy."


def labelled_image(app, tag: str, labels: dict[str, str]) -> str:
    """A busybox image built with `labels` (LABEL lines), as a hostile or careless build."""
    lines = "\n".join(f"LABEL {key}={value!r}".replace("'", '"') for key, value in labels.items())
    local = f"ddtest-{app.bed.run_id}/labelled:{tag}"
    app.bed.build(local, "foreign", instructions=lines)
    return local


@pytest.mark.parametrize("group", [False, True])
def test_a_committed_hotfix_under_the_name_is_not_up_to_date(app, group):
    app.publish("v1")
    app.deploy()
    ours = inspect(app.name)
    # An operator's hotfix: the running container committed, and run in its place by hand.
    hotfix = f"ddtest-{app.bed.run_id}/hotfix:{app.name}"
    docker("commit", app.name, hotfix)
    docker("rm", "-f", app.name)
    docker(
        "run", "-d", "--name", app.name, "--label", app.bed.label,
        "-p", f"127.0.0.1:{app.port}:80", hotfix,
    )  # fmt: skip
    hand_made = inspect(app.name)
    inherited = hand_made["Config"]["Labels"]
    assert inherited[PREFIX + "spec"] == ours["Config"]["Labels"][PREFIX + "spec"]
    assert inherited[PREFIX + "digest"], "the committed image carries our digest label"
    if group:
        (entry,) = docker_deploy.redeploy_group(
            [{"name": app.name, "image": app.ref, **app.spec(), "min_uptime": 0.5}]
        )
        report = entry["report"]
    else:
        report = app.deploy()
    assert report["action"] == "replaced", report
    assert "declared_settings_recorded" in report["changes"], report["changes"]
    assert inspect(app.name)["Image"] == ours["Image"], "back on the tag's image"
    assert_serving(app, "v1")
    docker("rmi", hotfix, check=False)


def test_the_scale_down_never_removes_a_foreign_container_with_our_labels(app):
    first = replica_ports(2)
    spec = {
        **app.spec(),
        "port_bindings": [f"127.0.0.1:{first}-{first + 1}:80"],
        "min_uptime": 0.5,
    }
    app.publish("v1")
    docker_deploy.redeploy(app.name, app.ref, replicas=2, **spec)
    third = f"{app.name}-3"
    image = labelled_image(
        app, "replica", {PREFIX + "replica-of": app.name, PREFIX + "name": third}
    )
    foreign = docker("run", "-d", "--name", third, "--label", app.bed.label, image)
    report = docker_deploy.redeploy(app.name, app.ref, replicas=2, **spec)
    assert report["removed"] == [], report
    assert inspect(third)["Id"] == foreign
    docker("rm", "-f", third)


def test_recovery_never_removes_a_foreign_helper_with_our_labels(app):
    app.publish("v1")
    app.deploy()
    before = identity(app.name)
    app.publish("v2")
    image = labelled_image(app, "helper", {PREFIX + "name": app.name})
    helper = f"{app.name}.deploy-new"
    foreign = docker("create", "--name", helper, "--label", app.bed.label, image)
    with pytest.raises(DeployError, match="did not create") as err:
        app.deploy()
    assert helper in str(err.value)
    assert inspect(helper)["Id"] == foreign and identity(app.name) == before
    docker("rm", "-f", helper)
    assert app.deploy()["action"] == "replaced"
    assert_serving(app, "v2")


def test_our_labels_on_an_image_we_deploy_are_replaced_by_ours(app):
    """An image that itself carries our labels (committed from one of our containers and
    pushed) is deployed with every label of ours set afresh, none inherited."""
    app.publish("v1")
    app.deploy()
    committed = f"{app.registry.host}/{app.repo}:committed"
    docker("commit", app.name, committed)
    docker("push", committed, quiet=True)
    docker("rmi", committed)
    report = docker_deploy.redeploy(
        f"{app.name}-b", committed, **{**app.spec(), "port_bindings": []}
    )
    labels = inspect(f"{app.name}-b")["Config"]["Labels"]
    assert labels[PREFIX + "image-id"] == report["image_id"]
    assert labels[PREFIX + "name"] == f"{app.name}-b"
    assert labels[PREFIX + "previous-image"] == "" and labels[PREFIX + "replica-of"] == ""
    docker("rm", "-f", f"{app.name}-b")
