"""A registry that requires htpasswd authentication: credentials work, a wrong password fails
clearly, and no password ever appears in a return value, a message or a log line."""

from __future__ import annotations

import contextlib
import itertools
import logging

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import RegistryError
from tests.support.apps import App
from tests.support.saltcall import SaltCall
from tests.support.testbed import Registry, free_port, inspect, wait_http
from tests.support.tokenserver import TokenServer

USER, PASSWORD, WRONG = "deployer", "s3cret-Pa55word", "wr0ng-Pa55word"
_serial = itertools.count(1)


@pytest.fixture(scope="session")
def auth_registry(bed):
    registry = Registry(bed.workdir / "auth-registry", users={USER: PASSWORD})
    try:
        yield registry
    finally:
        registry.stop()


@contextlib.contextmanager
def app_on(registry, bed, images, kind: str):
    """An app of its own (name, repository, port) on `registry`, removed afterwards."""
    n = next(_serial)
    app = App(bed, registry, images, f"ddtest-{bed.run_id}-{kind}{n}", f"{kind}{n}", free_port())
    try:
        yield app
    finally:
        app.remove()


@pytest.fixture
def auth_app(bed, auth_registry, images):
    with app_on(auth_registry, bed, images, "auth") as app:
        yield app


GOOD = {"username": USER, "password": PASSWORD}
BAD = {"username": USER, "password": WRONG}


def assert_no_secret(*texts) -> None:
    for text in texts:
        assert PASSWORD not in str(text) and WRONG not in str(text)


def test_pull_and_check_need_the_credentials(auth_app, caplog):
    ref = auth_app.publish("v1")
    caplog.set_level(logging.DEBUG, logger="saltext.docker_deploy")
    for auth in (None, BAD):
        with pytest.raises(RegistryError, match="refused access") as err:
            docker_deploy.pull(ref, auth=auth)
        assert_no_secret(err.value)
        with pytest.raises(RegistryError) as err:
            docker_deploy.check(ref, auth=auth)
        assert_no_secret(err.value)
    # With credentials the registry's Basic challenge is answered directly.
    assert docker_deploy.check(ref, auth=GOOD)["via"] == "registry"
    pulled = docker_deploy.pull(ref, auth=GOOD)
    assert pulled["changed"] is True
    assert docker_deploy.check(ref, auth=GOOD)["update_available"] is False
    assert_no_secret(pulled, caplog.text)


def test_wrong_password_leaves_the_container_serving(auth_app, caplog):
    ref = auth_app.publish("v1")
    caplog.set_level(logging.DEBUG, logger="saltext.docker_deploy")
    first = auth_app.deploy(auth=GOOD)
    assert first["action"] == "created"
    assert wait_http(auth_app.port, "v1") == "v1"
    before = inspect(auth_app.name)
    auth_app.publish("v2")
    with pytest.raises(RegistryError, match=auth_app.name) as err:
        docker_deploy.redeploy(auth_app.name, ref, auth=BAD, **auth_app.spec())
    assert_no_secret(err.value, first, caplog.text)
    assert inspect(auth_app.name)["Id"] == before["Id"]
    assert inspect(auth_app.name)["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert wait_http(auth_app.port, "v1") == "v1"


def test_salt_takes_credentials_from_pillar_and_never_shows_them(auth_app, tmp_path):
    auth_app.publish("v1")
    salt = SaltCall(tmp_path / "salt", auth_app)
    salt.write_state()
    conf = salt.root / "conf" / "minion"
    conf.write_text(conf.read_text() + "log_level_logfile: debug\n")
    pillar = salt.root / "pillar" / "app.sls"

    def set_password(password: str) -> None:
        pillar.write_text(
            "env_tag: prod\n"
            f"docker-registries:\n  {auth_app.registry.host}:\n"
            f"    username: {USER}\n    password: {password}\n"
        )

    set_password(PASSWORD)
    predicted = salt.apply(test=True)
    assert predicted["result"] is None, predicted["comment"]
    deployed = salt.apply()
    assert deployed["result"] is True, deployed["comment"]
    assert wait_http(auth_app.port, "v1") == "v1"
    before = inspect(auth_app.name)

    auth_app.publish("v2")
    set_password(WRONG)
    for test in (True, False):
        failed = salt.apply(test=test)
        assert failed["result"] is False
        assert "refused access" in failed["comment"]
        assert failed["changes"] == {}
        assert_no_secret(failed)
    assert inspect(auth_app.name)["Id"] == before["Id"]
    # Salt puts the log file under root_dir.
    (log,) = salt.root.rglob("minion.log")
    assert "docker_deploy" in log.read_text(), "the debug log was not written"
    assert_no_secret(predicted, deployed, log.read_text())


@pytest.fixture(scope="session")
def token_registry(bed):
    """A registry behind the token flow (Bearer challenge, JWT from a realm), as Docker Hub,
    GHCR, Harbor and GitLab run theirs."""
    tokens = TokenServer(bed.workdir / "token-server", users={USER: PASSWORD})
    registry = Registry(bed.workdir / "token-registry", users={USER: PASSWORD}, token_server=tokens)
    try:
        yield registry
    finally:
        registry.stop()
        tokens.stop()


@pytest.fixture
def token_app(bed, token_registry, images):
    with app_on(token_registry, bed, images, "tok") as app:
        yield app


def test_the_token_flow_is_answered_directly(token_app, caplog):
    """With credentials, the check fetches a pull-scoped token from the realm and HEADs the
    manifest itself; without (or with wrong ones) the Engine has the last word, as before."""
    ref = token_app.publish("v1")
    tokens = token_app.registry.token_server
    caplog.set_level(logging.DEBUG, logger="saltext.docker_deploy")
    asked = len(tokens.requests)
    fresh = docker_deploy.check(ref, auth=GOOD)
    assert fresh["via"] == "registry" and fresh["update_available"] is True
    ours = tokens.requests[asked:]
    assert ours == [
        {"user": USER, "scope": f"repository:{token_app.repo}:pull", "granted": True}
    ], "one token request, pull scope only, with the credentials"

    for auth in (None, BAD):
        with pytest.raises(RegistryError) as err:
            docker_deploy.check(ref, auth=auth)
        assert_no_secret(err.value)

    deployed = token_app.deploy(auth=GOOD)
    assert deployed["action"] == "created"
    assert wait_http(token_app.port, "v1") == "v1"
    current = docker_deploy.check(ref, auth=GOOD)
    assert current["via"] == "registry" and current["update_available"] is False
    assert current["remote_digest"] == fresh["remote_digest"]

    token_app.publish("v2")
    moved = token_app.deploy(auth=GOOD)
    assert moved["action"] == "replaced"
    assert wait_http(token_app.port, "v2") == "v2"
    again = token_app.deploy(auth=GOOD)
    assert again["action"] == "none"
    check_step = next(s for s in again["steps"] if s["step"] == "check")
    assert "asked directly" in check_step["detail"]
    assert_no_secret(caplog.text, deployed, moved, again)


ENV_SECRET, ENV_SECRET_2 = "env-S3cret-one", "env-S3cret-two"


def assert_no_env_secret(*texts) -> None:
    for text in texts:
        assert ENV_SECRET not in str(text) and ENV_SECRET_2 not in str(text), text


def test_environment_values_never_leave_the_container(auth_app, caplog, tmp_path):
    """`environment` values (often secrets) are masked in every return, change, comment,
    report and log line, through Python and through Salt; only the container has them."""
    ref = auth_app.publish("v1")
    caplog.set_level(logging.DEBUG)
    first = auth_app.deploy(auth=GOOD, environment={"DB_PASSWORD": ENV_SECRET})
    changed = auth_app.deploy(auth=GOOD, environment={"DB_PASSWORD": ENV_SECRET_2})
    assert changed["changes"]["environment"]["new"] == {"DB_PASSWORD": "<hidden, changed>"}
    predicted = docker_deploy.preview(
        auth_app.name, ref, auth=GOOD, **auth_app.spec(environment={"DB_PASSWORD": ENV_SECRET})
    )
    assert predicted["action"] == "replaced"
    auth_app.publish("exits")
    with pytest.raises(docker_deploy.RolledBack) as err:
        auth_app.deploy(auth=GOOD, environment={"DB_PASSWORD": ENV_SECRET})
    (entry,) = docker_deploy.redeploy_group(
        [{"name": auth_app.name, "image": ref, "auth": GOOD, "min_uptime": 0.5,
          **auth_app.spec(environment={"DB_PASSWORD": ENV_SECRET})}]
    )  # fmt: skip
    assert entry["error"] == "RolledBack"
    assert f"DB_PASSWORD={ENV_SECRET_2}" in inspect(auth_app.name)["Config"]["Env"]
    assert_no_env_secret(first, changed, predicted, err.value, err.value.report, entry)
    assert_no_env_secret(caplog.text)
    assert_no_secret(first, changed, predicted, err.value, err.value.report, entry, caplog.text)

    auth_app.publish("v2")
    salt = SaltCall(tmp_path / "salt", auth_app)
    (salt.root / "pillar" / "app.sls").write_text(
        f"env_tag: prod\ndocker-registries:\n  {auth_app.registry.host}:\n"
        f"    username: {USER}\n    password: {PASSWORD}\n"
    )
    conf = salt.root / "conf" / "minion"
    conf.write_text(conf.read_text() + "log_level_logfile: info\n")
    label_key, label_value = next(iter(auth_app.bed.labels.items()))
    (salt.root / "states" / "app.sls").write_text(
        f"{auth_app.name}:\n  docker_deploy.deployed:\n"
        f"    - image: {auth_app.registry.host}/{auth_app.repo}\n    - tag: prod\n"
        f'    - port_bindings: ["127.0.0.1:{auth_app.port}:80"]\n'
        f"    - environment: {{DB_PASSWORD: {ENV_SECRET}}}\n"
        f'    - labels: {{{label_key}: "{label_value}"}}\n    - min_uptime: 0.5\n'
    )
    predicted = salt.apply(test=True)
    assert predicted["result"] is None, predicted
    applied = salt.apply()
    assert applied["result"] is True, applied
    assert applied["changes"]["environment"]["new"] == {"DB_PASSWORD": "<hidden, changed>"}
    (log,) = salt.root.rglob("minion.log")
    ours = [line for line in log.read_text().splitlines() if "docker_deploy" in line]
    assert ours, "our step lines are in the minion log"
    assert_no_env_secret(predicted, applied, *ours)
    assert_no_secret(predicted, applied, *ours)
