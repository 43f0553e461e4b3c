"""Bad input gets an ``InvalidSpec`` that names what was wrong, before any Docker call: every
number has a range, nesting is bounded, reserved and duplicate names are refused. Nothing
panics, hangs or crashes the interpreter, and nothing reaches Python as ``PanicException``.

``DOCKER_HOST`` points nowhere in these tests: a call that reached for the Engine would fail
with ``DockerUnavailable``, not ``InvalidSpec``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import InvalidSpec

IMAGE = "127.0.0.1:5000/team/web:prod"
YEARS_584 = 584 * 365 * 86_400  # seconds; in nanoseconds it no longer fits 64 bits
# docker-py's durations are nanoseconds: a number of a million or more is read as those.
YEARS_584_NS = YEARS_584 * 10**9


@pytest.fixture(autouse=True)
def no_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")


def self_referencing():
    loop: list = []
    loop.append(loop)
    return loop


def nested(depth: int):
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_OPTIONS = [
    ({"replicas": 4_294_967_295}, "replicas"),
    ({"replicas": 2**70}, "replicas"),
    ({"replicas": -1}, "replicas"),
    ({"replicas": 0}, "replicas"),
    ({"replicas": "3x"}, "replicas"),
    ({"keep_images": -1}, "keep_images"),
    ({"keep_images": 2**64}, "keep_images"),
    ({"min_uptime": 1e308}, "min_uptime"),
    ({"min_uptime": float("nan")}, "min_uptime"),
    ({"min_uptime": float("inf")}, "min_uptime"),
    ({"environment": {"A": float("nan")}}, "finite"),
    ({"health_timeout": -1}, "health_timeout"),
    ({"lock_timeout": 10**30}, "lock_timeout"),
    ({"pull_timeout": 0}, "pull_timeout"),
    ({"pull": "no"}, "pull"),
    ({"rollback": 1}, "rollback"),
    ({"strategy": 3}, "strategy"),
    ({"renew_anonymous_volumes": "yes"}, "renew_anonymous_volumes"),
    ({"healthcheck": {"test": ["/bin/true"], "interval": YEARS_584_NS}}, "interval"),
    ({"healthcheck": {"test": ["/bin/true"], "interval": 999_999}}, "interval"),
    ({"healthcheck": {"test": ["/bin/true"], "start_period": "9999999999m"}}, "start_period"),
    ({"healthcheck": {"test": ["/bin/true"], "retries": 2**62}}, "retries"),
    ({"shutdown_timeout": 2**62}, "shutdown_timeout"),
    ({"restart_policy": "on-failure:99999999999"}, "restart_policy"),
    ({"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 2**40}}, "restart_policy"),
    ({"environment": {"A": 2**80}}, "environment"),
    ({"labels": nested(10_000)}, "nested deeper"),
    ({"environment": self_referencing()}, "nested deeper"),
    ({"command": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]}, "nested deeper"),
]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    BAD_OPTIONS,
    ids=[f"{next(iter(kwargs))}-{n}" for n, (kwargs, _) in enumerate(BAD_OPTIONS)],
)
def test_every_bad_value_is_invalid_spec_before_any_call(kwargs, needle):
    for call in (docker_deploy.redeploy, docker_deploy.preview):
        started = time.monotonic()
        with pytest.raises(InvalidSpec) as err:
            call("web", IMAGE, **kwargs)
        message = str(err.value)
        assert needle in message and "nothing was changed" in message, message
        assert time.monotonic() - started < 5
        assert len(message) < 1_000, "a message never carries the whole input"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("web.deploy-new", "helper names"),
        ("web.deploy-old", "helper names"),
        ("w" * 300, "longer than"),
        ("-web", "must match"),
        ("web/../x", "must match"),
    ],
)
def test_reserved_and_malformed_names_are_refused(name, needle):
    for call in (
        lambda: docker_deploy.redeploy(name, IMAGE),
        lambda: docker_deploy.remove(name),
        lambda: docker_deploy.rollback(name),
        lambda: docker_deploy.redeploy_group([{"name": name, "image": IMAGE}]),
    ):
        with pytest.raises(InvalidSpec, match=needle):
            call()


def test_arguments_of_the_wrong_type_are_named():
    with pytest.raises(InvalidSpec, match="name must be a string"):
        docker_deploy.redeploy(None, IMAGE)
    with pytest.raises(InvalidSpec, match="image must be a string"):
        docker_deploy.redeploy("web", 5)
    with pytest.raises(InvalidSpec, match="containers must be a list"):
        docker_deploy.redeploy_group({"name": "web"})
    with pytest.raises(InvalidSpec, match="entry 2 has no image"):
        docker_deploy.redeploy_group([{"name": "web", "image": IMAGE}, {"name": "api"}])
    for concurrency in (0, 10**6, -1, "many"):
        with pytest.raises(InvalidSpec, match="concurrency"):
            docker_deploy.redeploy_group([], concurrency=concurrency)
    with pytest.raises(InvalidSpec, match="force: not an option of remove"):
        docker_deploy.remove("web", force=True)
    with pytest.raises(InvalidSpec, match="replicas: not an option of rollback"):
        docker_deploy.rollback("web", replicas=2)


def test_two_group_entries_with_one_name_are_refused():
    entries = [{"name": "web", "image": IMAGE}, {"name": "web", "image": IMAGE + "-canary"}]
    with pytest.raises(InvalidSpec, match='"web" is declared twice'):
        docker_deploy.redeploy_group(entries)
    with pytest.raises(InvalidSpec, match="replicas: not an option of a group entry"):
        docker_deploy.redeploy_group([{"name": "web", "image": IMAGE, "replicas": 2}])


OUT_OF_FILES = """
import json, logging, os, resource
from saltext import docker_deploy
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
held = []
try:
    while True:
        held.append(open(os.devnull))
except OSError:
    pass
try:
    docker_deploy.redeploy("web", "127.0.0.1:5000/team/web:prod")
    print(json.dumps({"outcome": "no error"}))
except BaseException as err:
    print(json.dumps({"outcome": type(err).__name__, "base": type(err).__mro__[1].__name__,
                      "deploy_error": isinstance(err, docker_deploy.DeployError),
                      "message": str(err)}))
"""


def test_no_file_descriptors_left_is_a_deploy_error_not_a_panic():
    """Out of file descriptors the I/O runtime cannot start: once a panic that reached Python
    as PanicException (a BaseException that escapes Salt's ``except Exception``)."""
    proc = subprocess.run(
        [sys.executable, "-c", OUT_OF_FILES], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["deploy_error"] is True, outcome
    assert outcome["outcome"] != "PanicException", outcome
    assert "nothing was changed" in outcome["message"], outcome
