"""check(), pull() and redeploy() against registries that misbehave (tests/support/hostile.py).

What must hold whatever the registry does: the call ends in bounded time; its outcome is the
Engine fallback's honest answer, or a RegistryError/ImageNotFound that names the registry
(never a DockerUnavailable blaming the Engine for the registry's fault); the credentials
never go where they should not (a redirect target, plain HTTP to another host) and never
appear in a message, a report or a log line; and a redeploy leaves the running container as
it was, serving.

The Engine itself also talks to the fake during the fallback and during pulls; that is part of
what is tested. A call that outlives HOSTILE_PATIENCE seconds (default 100) is cut loose (the
fake hangs up on every connection), so that the test ends and fails on its time bound; set it
higher to measure how long a hang really lasts. Run with -s for the timings.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import DockerUnavailable, ImageNotFound, RegistryError
from tests.support import hostile
from tests.support.deploying import assert_serving
from tests.support.testbed import docker, inspect

# The safety net every call must stay under; not a performance goal.
BOUND = 90.0
# A pull from a registry that never ends its answer ends at its pull_timeout (600 s by default).
PULL_TIMEOUT = 20
PATIENCE = float(os.environ.get("HOSTILE_PATIENCE", "100"))
LOGGER = "saltext.docker_deploy"
CERTS_D = "SALTEXT_DOCKER_DEPLOY_CERTS_D"

TEN_KB_HEX = "sha256:" + "a" * 10240


@dataclass(frozen=True)
class Case:
    scene: str
    options: tuple = ()  # (name, value) pairs for hostile.scene()
    lan: bool = False  # the registry listens on lan_ip() instead of 127.0.0.1
    trusted: bool = True  # the test CA is in our certs.d for the TLS server(s)
    direct: bool = False  # our code may answer directly (the registry behaves for us)


CASES = {
    "ok": Case("ok", direct=True),
    "ok-basic": Case("ok", (("auth", "basic"),), direct=True),
    "status500": Case("status500", (("auth", "basic"),)),
    "no_digest": Case("no_digest", (("auth", "basic"),)),
    "bad_digest-xyz": Case("bad_digest", (("digest", "sha256:xyz"),)),
    "bad_digest-10kb": Case("bad_digest", (("digest", TEN_KB_HEX),)),
    "huge_headers-4mb": Case("huge_headers", (("header_bytes", 4 << 20),)),
    "huge_headers-12mb": Case("huge_headers", (("header_bytes", 12 << 20),)),
    "endless_headers-fast": Case("endless_headers", (("interval", 0.0),)),
    "endless_headers-slow": Case("endless_headers", (("interval", 0.5),)),
    "huge_body-manifest": Case("huge_body", (("body_on", "manifest"),)),
    "huge_body-token": Case(
        "huge_body", (("body_on", "token"), ("auth", "bearer"), ("realm", "self"))
    ),
    "endless_body-manifest": Case("endless_body", (("body_on", "manifest"),)),
    "endless_body-token": Case(
        "endless_body", (("body_on", "token"), ("auth", "bearer"), ("realm", "self"))
    ),
    "slow": Case("slow", (("auth", "basic"),)),
    "redirect-302": Case("redirect", (("redirect_status", 302),)),
    "redirect-307": Case("redirect", (("redirect_status", 307),)),
    "token_realm_other_host-trusted": Case("token_realm_other_host", direct=True),
    "token_realm_other_host-untrusted": Case("token_realm_other_host", trusted=False),
    "token_realm_plain_http": Case("token_realm_plain_http"),
    "tls_expired-loopback": Case("tls_expired"),
    "tls_expired-lan": Case("tls_expired", lan=True),
    "tls_wrong_host-loopback": Case("tls_wrong_host"),
    "tls_wrong_host-lan": Case("tls_wrong_host", lan=True),
    "hang": Case("hang"),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return hostile.TestCA(tmp_path_factory.mktemp("hostile-ca"))


@pytest.fixture
def auth():
    """Credentials of this test alone: any trace of the password anywhere is this test's."""
    return {"username": "ci", "password": f"hostile-{secrets.token_hex(12)}"}


@pytest.fixture
def hostile_scene(request, ca, tmp_path, monkeypatch):
    """The case's fake registry (and its server on another host), our certs.d trusting the test
    CA for every TLS server unless the case says otherwise; everything stopped afterwards."""
    name = request.param
    case = CASES[name]
    certs_d = tmp_path / "certs.d"
    certs_d.mkdir()
    monkeypatch.setenv(CERTS_D, str(certs_d))
    host = hostile.lan_ip() if case.lan else "127.0.0.1"
    with hostile.scene(case.scene, ca=ca, host=host, **dict(case.options)) as scene:
        for server in scene.servers:
            if server.tls and case.trusted:
                ca.trust(server.host, certs_d)
            elif server.tls:
                server.verifiable = False  # nobody was given the test CA
        try:
            yield name, case, scene
        finally:
            scene.stop()
            # Nothing can be pulled from a fake (its layer is never served); untag if it was.
            tagged = docker("images", "-q", f"{scene.registry.host}/hostile/app", check=False)
            if tagged:
                docker("rmi", "-f", *set(tagged.split()), check=False)


@dataclass
class Outcome:
    what: str
    seconds: float
    value: dict | None = None
    error: BaseException | None = None
    cut_loose: bool = False

    def __str__(self) -> str:
        cut = f" (cut loose after {PATIENCE:.0f} s)" if self.cut_loose else ""
        if self.error is not None:
            said = f"{type(self.error).__name__}: {self.error}"
        else:
            said = f"via={self.value.get('via')} digest={str(self.value.get('remote_digest'))[:24]}"
            said = said if "via" in self.value else f"action={self.value.get('action')}"
        return f"{self.what}: {self.seconds:.1f} s{cut}: {said[:400]}"


def bounded(what: str, call, scene: hostile.Scene) -> Outcome:
    """Runs `call` in a thread; past PATIENCE the fake hangs up on every connection, every
    2 s, until the call ends (it stays as hostile to the next call)."""
    result: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            result["value"] = call()
        except Exception as e:
            result["error"] = e
        result["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(PATIENCE)
    cut_loose = worker.is_alive()
    deadline = time.monotonic() + 180
    while worker.is_alive() and time.monotonic() < deadline:
        scene.cut()
        worker.join(2)
    assert not worker.is_alive(), f"{what} still runs 180 s after the fake began to hang up"
    outcome = Outcome(what, result["seconds"], result.get("value"), result.get("error"), cut_loose)
    print(f"\n[hostile] {outcome}")
    return outcome


def assert_bounded(outcome: Outcome) -> None:
    assert not outcome.cut_loose and outcome.seconds < BOUND, (
        f"{outcome.what} took {outcome.seconds:.0f} s (bound {BOUND:.0f} s)"
    )


def assert_clear_error(outcome: Outcome, scene: hostile.Scene) -> None:
    """A registry error that names the registry; never one blaming the Engine."""
    error = outcome.error
    assert not isinstance(error, DockerUnavailable), f"blames the Engine: {error}"
    assert isinstance(error, RegistryError | ImageNotFound), repr(error)
    assert scene.registry.host in str(error), f"the registry is not named: {error}"


def assert_no_trace(auth: dict, scene: hostile.Scene, caplog, *outcomes: Outcome) -> None:
    leaks = scene.leaks(auth["username"], auth["password"])
    assert not leaks, "credentials went where they should not:\n" + "\n".join(leaks)
    for text in [caplog.text, *(str(o.value) + str(o.error) for o in outcomes)]:
        assert auth["password"] not in text, "the password appears in a message or a log line"


def report(name: str, scene: hostile.Scene) -> None:
    clients = sorted({f"{r.client} {r.method} {r.server}" for r in scene.requests})
    print(f"[hostile] {name}: {len(scene.requests)} requests: {'; '.join(clients)[:600]}")
    for server in scene.servers:
        if server.tls_failures:
            print(f"[hostile] {name}: TLS refused at {server.url}: {server.tls_failures[:3]}")


@pytest.mark.parametrize("hostile_scene", list(CASES), indirect=True)
def test_check_against_a_hostile_registry(hostile_scene, auth, caplog):
    name, case, scene = hostile_scene
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    checked = bounded(f"{name} check", lambda: docker_deploy.check(scene.ref(), auth=auth), scene)
    report(name, scene)
    assert_bounded(checked)
    if checked.error is not None:
        assert_clear_error(checked, scene)
    else:
        answer = checked.value
        assert answer["remote_digest"] in scene.digests, (
            f"a digest the registry never honestly served: {answer['remote_digest'][:80]}"
        )
        assert answer["update_available"] is True and answer["local_id"] is None
        if not case.direct:
            assert answer["via"] == "engine", "answered directly by a registry that misbehaved"
    assert_no_trace(auth, scene, caplog, checked)


@pytest.mark.parametrize("hostile_scene", list(CASES), indirect=True)
def test_pull_from_a_hostile_registry(hostile_scene, auth, caplog):
    """A pull goes to the Engine at once (as pull_policy="always" does): it can never complete
    from a fake, so it must fail clearly, in bounded time."""
    name, _, scene = hostile_scene
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pulled = bounded(
        f"{name} pull",
        lambda: docker_deploy.pull(scene.ref(), auth=auth, pull_timeout=PULL_TIMEOUT),
        scene,
    )
    report(name, scene)
    assert pulled.error is not None, f"a pull from a fake succeeded: {pulled.value}"
    assert_clear_error(pulled, scene)
    assert_bounded(pulled)
    assert_no_trace(auth, scene, caplog, pulled)


@pytest.fixture
def deployed(app):
    """The app on v1 from the real registry, serving; its container's inspect before."""
    app.publish("v1")
    app.deploy()
    assert_serving(app, "v1")
    return app, inspect(app.name)


@pytest.mark.parametrize("hostile_scene", list(CASES), indirect=True)
def test_redeploy_from_a_hostile_registry_keeps_the_old_container(
    hostile_scene, deployed, auth, caplog
):
    name, _, scene = hostile_scene
    app, before = deployed
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ref = scene.ref()
    redeployed = bounded(
        f"{name} redeploy",
        lambda: docker_deploy.redeploy(
            app.name,
            ref,
            pull=True,
            auth=auth,
            pull_timeout=PULL_TIMEOUT,
            **app.spec(),
            min_uptime=0.5,
        ),
        scene,
    )
    report(name, scene)
    after = inspect(app.name)
    assert after is not None, "the container is gone"
    assert after["Id"] == before["Id"], "the container was replaced"
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"], "it was restarted"
    assert_serving(app, "v1")
    assert redeployed.error is not None, f"a redeploy from a fake succeeded: {redeployed.value}"
    assert_clear_error(redeployed, scene)
    assert_bounded(redeployed)
    assert_no_trace(auth, scene, caplog, redeployed)


@pytest.mark.parametrize("auth_kind", [None, "basic"])
def test_the_fake_answers_both_clients(auth_kind, auth, monkeypatch):
    """Guards the guard: a behaving fake is answered directly by us and by the Engine alike,
    with its one digest, and its layer is never there (no pull from it can ever complete)."""
    with hostile.scene("ok", auth=auth_kind) as scene:
        direct = docker_deploy.check(scene.ref(), auth=auth)
        monkeypatch.setenv("SALTEXT_DOCKER_DEPLOY_DIRECT_REGISTRY", "off")
        engine = docker_deploy.check(scene.ref(), auth=auth)
        with pytest.raises((RegistryError, ImageNotFound)):
            docker_deploy.pull(scene.ref(), auth=auth)
    assert (direct["via"], engine["via"]) == ("registry", "engine")
    assert direct["remote_digest"] == engine["remote_digest"] == hostile.DIGEST
    clients = {r.client for r in scene.requests}
    assert {"ours", "engine"} <= clients, clients
    if auth_kind:
        assert any(r.carries(auth["username"], auth["password"]) for r in scene.requests)


def test_a_registry_that_limits_the_rate_is_not_asked_again_through_the_engine():
    """A 429 is the registry's answer, not a failure to answer: the check ends with a
    RegistryError carrying its Retry-After (the beacon waits it out), and the Engine is not
    sent to ask the same registry again (that request would count against the same limit)."""
    with hostile.FakeRegistry("rate_limited") as fake:
        started = time.monotonic()
        with pytest.raises(RegistryError) as raised:
            docker_deploy.check(fake.ref())
        assert time.monotonic() - started < 10
        assert raised.value.rate_limited is True
        assert raised.value.retry_after == hostile.RETRY_AFTER_S
        assert "429" in str(raised.value) and fake.host in str(raised.value)
        assert fake.requests and {r.client for r in fake.requests} == {"ours"}
