"""Continuous deployment's decision logic, without Salt or Docker: which events a result or an
error gives (and that no secret rides along), which jobs the reactor starts for a registry's
notification, and when the beacon announces a new digest (with a fake core: the real chain is
proven in tests/integration/test_push_to_deploy.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from saltext import docker_deploy
from saltext.docker_deploy.reactor import pushed_images, reactions, update_available
from saltext.docker_deploy.utils import error_events, result_events

CANARY = "canary-hunter2"
REF = "127.0.0.1:5000/team/web:qa"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def report(action="replaced", **more):
    return {
        "name": "web",
        "image": REF,
        "action": action,
        "changes": {"environment": {"old": {"DB_PASSWORD": CANARY}, "new": "masked"}},
        "container_id": "c2",
        "image_id": "sha256:new",
        "previous_image_id": "sha256:old",
        "digest": "127.0.0.1:5000/team/web@sha256:d2",
        "previous_digest": "127.0.0.1:5000/team/web@sha256:d1",
        "strategy": "create-first",
        "downtime_ms": 120.0,
        "steps": [{"step": "create", "detail": "c2", "duration_ms": 30.0, "extra": CANARY}],
        "comment": 'replaced "web"',
        "recovered": None,
        "failure": None,
        "dry_run": False,
        "auth": {"password": CANARY},
        **more,
    }


def test_a_replacement_gives_one_event_with_what_changed_and_no_secret():
    ((tag, data),) = result_events(report(), "m1", "redeploy")
    assert tag == "saltext/docker_deploy/replaced"
    assert data["minion"] == "m1" and data["name"] == "web" and data["image"] == REF
    assert (data["old_image_id"], data["new_image_id"]) == ("sha256:old", "sha256:new")
    assert data["new_digest"].endswith("sha256:d2") and data["old_digest"].endswith("sha256:d1")
    assert data["downtime_ms"] == 120.0 and data["strategy"] == "create-first"
    assert data["steps"] == [{"step": "create", "detail": "c2", "duration_ms": 30.0}]
    assert CANARY not in json.dumps(data)


@pytest.mark.parametrize(
    "action, outcome",
    [
        ("created", "created"),
        ("started", "started"),
        ("adopted", "adopted"),
        ("recovered", "recovered"),
        ("rolled-back", "rolled_back"),
        ("failed", "failed"),
    ],
)
def test_each_outcome_has_its_tag(action, outcome):
    ((tag, data),) = result_events(report(action), "m1", "redeploy")
    assert tag == f"saltext/docker_deploy/{outcome}" and data["outcome"] == outcome


def test_a_no_op_and_a_dry_run_give_none():
    assert result_events(report("none"), "m1", "redeploy") == []
    assert result_events(report(dry_run=True), "m1", "redeploy") == []
    assert result_events({"results": [report(dry_run=True)], "dry_run": True}, "m1", "x") == []


def test_replicas_and_group_entries_give_one_event_each():
    replicas = {"results": [report(), report("none"), report("created")], "dry_run": False}
    assert [t for t, _ in result_events(replicas, "m1", "redeploy")] == [
        "saltext/docker_deploy/replaced",
        "saltext/docker_deploy/created",
    ]
    failed = report("rolled-back", failure={"step": "verify", "reason": "unhealthy"})
    entries = [
        {"name": "a", "report": report()},
        {"name": "b", "report": None, "error": "InvalidSpec", "message": "bad"},
        {"name": "c", "report": None, "error": "ImageNotFound", "message": "gone"},
        {"name": "d", "report": None, "error": "RolledBack", "error_report": failed},
        {"name": "e", "report": report("none")},
    ]
    events = result_events(entries, "m1", "group")
    assert [(t.rsplit("/", 1)[1], d["name"]) for t, d in events] == [
        ("replaced", "web"),
        ("failed", "c"),
        ("rolled_back", "web"),
    ]
    assert events[2][1]["failure"] == {"step": "verify", "reason": "unhealthy"}


def test_a_removal_gives_removed_and_nothing_to_remove_none():
    removed = {"name": "web", "removed": True, "container_id": "c1", "image_id": "sha256:1",
               "helpers_removed": [], "warnings": [], "dry_run": False}  # fmt: skip
    ((tag, data),) = result_events(removed, "m1", "remove")
    assert tag == "saltext/docker_deploy/removed" and data["container_id"] == "c1"
    assert result_events({**removed, "removed": False}, "m1", "remove") == []


def test_errors_give_the_failed_runs_event_or_a_failed_one_but_bad_input_none():
    rolled = docker_deploy.RolledBack("image failed: unhealthy")
    rolled.report = report("rolled-back", failure={"step": "verify", "reason": "exit 1"})
    ((tag, data),) = error_events(rolled, "m1", "redeploy", "web", REF)
    assert tag == "saltext/docker_deploy/rolled_back" and data["failure"]["reason"] == "exit 1"
    ((tag, data),) = error_events(docker_deploy.LockTimeout("busy"), "m1", "redeploy", "web", REF)
    assert tag == "saltext/docker_deploy/failed"
    assert (data["name"], data["error"], data["failure"]["reason"]) == (
        "web",
        "LockTimeout",
        "busy",
    )
    assert error_events(docker_deploy.InvalidSpec("bad"), "m1", "redeploy", "web", REF) == []


# The reactor.

SECRET = "s3cret-token"
OPTS = {"docker_deploy": {"webhook_secret": SECRET}}


def notification(*events, secret=SECRET, as_bytes=True):
    body = json.dumps({"events": list(events)})
    return {
        "headers": {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        "body": body.encode() if as_bytes else body,
    }


def push(tag="qa", media=MANIFEST, action="push", repository="team/web"):
    target = {"mediaType": media, "repository": repository, "digest": "sha256:d2"}
    if tag is not None:
        target["tag"] = tag
    return {"action": action, "target": target, "request": {"host": "127.0.0.1:5000"}}


def images_of(jobs):
    return [job["local.docker_deploy.update"][2]["args"][0]["image"] for job in jobs.values()]


def test_a_push_of_a_tag_updates_it_on_the_targeted_minions():
    jobs = reactions(notification(push()), OPTS)
    ((job,),) = [list(j.values()) for j in jobs.values()]
    assert job == [{"tgt": "*"}, {"tgt_type": "glob"}, {"args": [{"image": REF}]}]
    aimed = {"docker_deploy": {"webhook_secret": SECRET, "target": "G@env:qa",
                               "tgt_type": "compound", "registry": "reg.example.com"}}  # fmt: skip
    (job,) = reactions(notification(push(), as_bytes=False), aimed).values()
    assert job["local.docker_deploy.update"][:2] == [{"tgt": "G@env:qa"}, {"tgt_type": "compound"}]
    assert images_of({"x": job}) == ["reg.example.com/team/web:qa"]


def test_only_a_push_of_a_manifest_by_tag_starts_a_job_and_each_tag_once():
    events = [
        push(media="application/octet-stream"),  # a layer
        push(action="pull"),
        push(tag=None),  # by digest
        push(),
        push(),  # the same tag twice in one notification
        push(tag="prod"),
    ]
    assert images_of(reactions(notification(*events), OPTS)) == [REF, REF.replace(":qa", ":prod")]
    assert pushed_images(b"not json") == []
    assert pushed_images({"events": "x"}) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": SECRET},
        {"authorization": f"Basic {SECRET}"},
    ],
)
def test_a_request_without_the_secret_starts_nothing(headers):
    data = notification(push())
    data["headers"] = headers
    assert reactions(data, OPTS) == {}


def test_a_master_without_a_secret_refuses_everything(tmp_path):
    assert reactions(notification(push()), {}) == {}
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    from_file = {"docker_deploy": {"webhook_secret_file": str(secret_file)}}
    assert images_of(reactions(notification(push()), from_file)) == [REF]
    missing = {"docker_deploy": {"webhook_secret_file": str(tmp_path / "none")}}
    assert reactions(notification(push()), missing) == {}


def test_the_beacons_event_updates_that_reference_on_that_minion():
    (job,) = update_available({"id": "m2", "image": REF, "digest": "sha256:d2"}).values()
    assert job["local.docker_deploy.update"] == [
        {"tgt": "m2"},
        {"tgt_type": "list"},
        {"args": [{"image": REF}]},
    ]
    assert update_available({"image": REF}) == {}


def test_the_shipped_reactor_files_hand_the_event_to_the_package():
    examples = Path(__file__).resolve().parents[2] / "examples" / "salt" / "reactor"
    cases = [
        ("registry_push.sls", notification(push()), [REF]),
        ("update_available.sls", {"id": "m2", "image": REF}, [REF]),
        ("registry_push.sls", notification(push(), secret="wrong"), []),
    ]
    for name, data, images in cases:
        text = (examples / name).read_text()
        assert text.startswith("#!py\n"), name
        # As Salt's py renderer runs it: the event's data and the master's opts as globals.
        scope = {"data": data, "__opts__": OPTS}
        exec(compile(text, str(examples / name), "exec"), scope)
        assert images_of(scope["run"]()) == images, name


# The beacon, over a fake core.


class FakeCore:
    DeployError = docker_deploy.DeployError
    RegistryError = docker_deploy.RegistryError

    def __init__(self):
        self.containers = [
            {"name": "web", "image": REF, "digest": "127.0.0.1:5000/team/web@sha256:d1",
             "image_id": "sha256:1", "status": "running"},
            {"name": "api", "image": REF, "digest": "127.0.0.1:5000/team/web@sha256:d1",
             "image_id": "sha256:1", "status": "running"},
        ]  # fmt: skip
        self.remote = "sha256:d1"
        self.local = {"update_available": True, "local_id": "sha256:1"}
        self.asked = []
        self.names = None
        self.fail = None

    def managed(self, names=None):
        self.names = names
        return self.containers

    def check(self, image, auth=None):
        self.asked.append(image)
        if self.fail is not None:
            raise self.fail
        return {"remote_digest": self.remote, **self.local}


@pytest.fixture
def beacon(monkeypatch):
    path = Path(docker_deploy.__file__).parent / "beacons" / "docker_deploy_mod.py"
    spec = importlib.util.spec_from_file_location("dd_beacon_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake = FakeCore()
    monkeypatch.setattr(module, "core", fake)
    module.__pillar__ = {}
    module.__salt__ = {
        "config.get": lambda key: ["web", "api"] if key == "docker_deploy:names" else None
    }
    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    return module, fake, clock


def test_the_beacon_announces_a_new_digest_once_with_the_containers_it_would_change(beacon):
    module, fake, _ = beacon
    config = [{"_beacon_name": "docker_deploy"}]
    assert module.validate(config) == (True, "valid")
    assert module.beacon(config) == []  # up to date
    fake.remote = "sha256:d2"
    (event,) = module.beacon(config)
    assert event["tag"] == "update_available" and event["image"] == REF
    assert (event["digest"], event["containers"]) == ("sha256:d2", ["api", "web"])
    assert fake.asked == [REF, REF], "one request per distinct reference and interval"
    assert fake.names == ["web", "api"], "the minion's docker_deploy:names"
    assert module.beacon(config) == [], "announced once per digest"
    fake.remote = "sha256:d3"
    assert [e["digest"] for e in module.beacon(config)] == ["sha256:d3"]
    # Deployed: nothing more; a later push is announced again.
    for container in fake.containers:
        container["digest"] = "127.0.0.1:5000/team/web@sha256:d3"
    assert module.beacon(config) == []
    fake.remote = "sha256:d4"
    assert len(module.beacon(config)) == 1


def test_the_beacon_waits_out_a_rate_limit_and_backs_off_on_failures(beacon):
    module, fake, clock = beacon
    config = [{"_beacon_name": "docker_deploy"}]
    limited = docker_deploy.RegistryError("429")
    limited.rate_limited, limited.retry_after = True, 120.0
    fake.fail = limited
    assert module.beacon(config) == [] and len(fake.asked) == 1
    clock[0] += 60
    assert module.beacon(config) == [] and len(fake.asked) == 1, "asked again before Retry-After"
    clock[0] += 61
    fake.fail = docker_deploy.RegistryError("down")
    module.beacon(config)
    assert len(fake.asked) == 2
    # Any other failure pauses the reference: 30 s after a first, doubling after each next.
    clock[0] += 29
    module.beacon(config)
    assert len(fake.asked) == 2, "asked again before the pause ended"
    clock[0] += 2
    module.beacon(config)
    assert len(fake.asked) == 3
    clock[0] += 31
    module.beacon(config)
    assert len(fake.asked) == 3, "the second pause is twice the first"
    fake.fail, fake.remote = None, "sha256:d2"
    clock[0] += 30
    assert len(module.beacon(config)) == 1 and len(fake.asked) == 4


def test_the_beacon_pauses_a_whole_registry_that_limits_the_rate(beacon):
    module, fake, clock = beacon
    config = [{"_beacon_name": "docker_deploy"}]
    other = REF.replace("team/web", "team/api")
    fake.containers[1]["image"] = other
    limited = docker_deploy.RegistryError("429")
    limited.rate_limited, limited.retry_after = True, None
    fake.fail = limited
    module.beacon(config)
    assert sorted(fake.asked) == sorted([REF, other])
    fake.fail = None
    clock[0] += 10
    assert module.beacon(config) == [] and len(fake.asked) == 2, "the registry is paused"
    clock[0] += 21  # 30 s: no Retry-After, the first doubling pause
    module.beacon(config)
    assert len(fake.asked) == 4


def test_the_beacon_judges_a_container_without_a_digest_by_the_local_tag(beacon):
    """A rolled-back container records no digest: it runs the registry's image only when the
    local tag is the registry's and it runs that tag's image."""
    module, fake, _ = beacon
    config = [{"_beacon_name": "docker_deploy"}]
    for container in fake.containers:
        container["digest"] = None
    fake.local = {"update_available": False, "local_id": "sha256:1"}
    assert module.beacon(config) == []
    fake.containers[0]["image_id"] = "sha256:0"  # rolled back to an older image
    (event,) = module.beacon(config)
    assert event["containers"] == ["web"]


def test_the_beacon_skips_stopped_containers_and_an_unreachable_engine(beacon):
    module, fake, _ = beacon
    config = [{"_beacon_name": "docker_deploy"}]
    fake.remote = "sha256:d2"
    fake.containers[0]["status"] = "exited"
    (event,) = module.beacon(config)
    assert event["containers"] == ["api"]

    def down(names=None):
        raise docker_deploy.DockerUnavailable("no engine")

    fake.managed = down
    assert module.beacon(config) == []


def test_the_beacon_refuses_a_bad_configuration(beacon):
    module, _, _ = beacon
    assert module.validate({"images": "x"})[0] is False
    assert module.validate([{"images": "x"}])[0] is False
    assert module.validate([{"images": [REF]}]) == (True, "valid")
