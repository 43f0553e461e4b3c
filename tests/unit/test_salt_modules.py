"""State and execution module logic with a mocked ``__salt__`` (or the real execution module,
for input the core refuses before any Docker call): every branch, both test modes.

The modules are loaded from their files, as Salt's loader does, with the dunders injected.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from salt.exceptions import CommandExecutionError

from saltext import docker_deploy
from saltext.docker_deploy.utils import clean_kwargs, find_auth, registry_of

PACKAGE = Path(docker_deploy.__file__).parent
REF = "reg.example.com:5000/team/web"


def load(kind: str, salt=None, test=False, pillar=None):
    spec = importlib.util.spec_from_file_location(
        f"dd_{kind}_{id(salt)}", PACKAGE / kind / "docker_deploy_mod.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__salt__ = salt if salt is not None else {}
    module.__opts__ = {"test": test}
    module.__pillar__ = pillar or {}
    return module


def salt_mocks(**overrides):
    mocks = {
        "docker_deploy.redeploy": MagicMock(
            return_value={"action": "none", "changes": {}, "comment": "up to date"}
        ),
        "docker_deploy.redeploy_group": MagicMock(return_value=[]),
        "docker_deploy.remove": MagicMock(
            return_value={
                "removed": True,
                "container_id": "c1",
                "helpers_removed": [],
                "warnings": [],
            }
        ),
    }
    mocks.update(overrides)
    return mocks


REPLACED = {
    "action": "replaced",
    "changes": {"image": {"old": "sha256:1", "new": "sha256:2"}},
    "comment": 'replaced "web": running sha256:1, tag now sha256:2',
    "downtime_ms": 120.4,
    "warnings": [],
    "strategy": "create-first",
    "image_id": "sha256:2",
    "previous_image_id": "sha256:1",
    "removed_images": [],
    "steps": [{"step": "stop", "detail": "c1 stopped", "duration_ms": 100.2}],
    "dry_run": False,
}

# What the core says in a dry run: the state passes it on word for word.
WOULD_REPLACE = {
    **REPLACED,
    "changes": {"image": {"old": "sha256:1", "new": f"{REF}:prod now sha256:d in the registry"}},
    "comment": 'would replace "web": running sha256:1, registry digest now sha256:d',
    "downtime_ms": None,
    "dry_run": True,
}


# --- deployed ---------------------------------------------------------------------------


def test_deployed_passes_the_declaration_through_and_adds_no_option_of_its_own():
    salt = salt_mocks()
    ret = load("states", salt).deployed("web", REF, tag="prod", port_bindings=["80:80"])
    assert ret == {"name": "web", "result": True, "changes": {}, "comment": "up to date"}
    # The options and their defaults are the core's: nothing is written twice here.
    salt["docker_deploy.redeploy"].assert_called_once_with(
        "web", f"{REF}:prod", port_bindings=["80:80"]
    )


def test_deployed_replaced_reports_changes_and_downtime():
    salt = salt_mocks(**{"docker_deploy.redeploy": MagicMock(return_value=REPLACED)})
    ret = load("states", salt).deployed("web", REF)
    assert ret["result"] is True
    summary = ret["changes"].pop("deploy")
    assert ret["changes"] == REPLACED["changes"]
    assert summary["old_image_id"] == "sha256:1" and summary["new_image_id"] == "sha256:2"
    assert summary["downtime_ms"] == 120.4 and summary["strategy"] == "create-first"
    assert summary["steps"] == ["stop c1 stopped (100 ms)"]
    assert ret["comment"] == REPLACED["comment"] + " (downtime 120 ms)"


def test_deployed_error_is_false_and_names_the_cause():
    failing = MagicMock(side_effect=CommandExecutionError("InvalidSpec: unknown keyword 'x'"))
    salt = salt_mocks(**{"docker_deploy.redeploy": failing})
    ret = load("states", salt).deployed("web", REF, x=1)
    assert ret["result"] is False and ret["changes"] == {}
    assert "unknown keyword 'x'" in ret["comment"]


def test_deployed_strips_salt_dunders():
    salt = salt_mocks()
    load("states", salt).deployed("web", REF, __id__="web", __sls__="x", __env__="base")
    assert salt["docker_deploy.redeploy"].call_args.kwargs == {}


def test_test_mode_is_the_core_dry_run_and_says_what_it_says():
    salt = salt_mocks(**{"docker_deploy.redeploy": MagicMock(return_value=WOULD_REPLACE)})
    ret = load("states", salt, test=True).deployed("web", REF, tag="prod", pull_policy="never")
    salt["docker_deploy.redeploy"].assert_called_once_with(
        "web", f"{REF}:prod", pull_policy="never", dry_run=True
    )
    assert ret["result"] is None
    assert ret["changes"] == WOULD_REPLACE["changes"]
    # The core's sentence, word for word: no "deploy" summary of steps never taken.
    assert ret["comment"] == WOULD_REPLACE["comment"]


def test_test_mode_nothing_to_do_is_true():
    salt = salt_mocks(
        **{
            "docker_deploy.redeploy": MagicMock(
                return_value={
                    "action": "none",
                    "changes": {},
                    "comment": "up to date",
                    "dry_run": True,
                }
            )
        }
    )
    ret = load("states", salt, test=True).deployed("web", REF)
    assert ret["result"] is True and ret["changes"] == {}


def test_test_mode_registry_unreachable_cannot_tell():
    unreachable = MagicMock(side_effect=CommandExecutionError("RegistryError: refused"))
    salt = salt_mocks(**{"docker_deploy.redeploy": unreachable})
    ret = load("states", salt, test=True).deployed("web", REF)
    assert ret["result"] is False and "cannot tell" in ret["comment"]
    assert "RegistryError: refused" in ret["comment"]


def test_test_mode_replicas_predict_each_replica():
    would = {
        "action": "updated",
        "changes": {"web-1": {"image": {"old": "a", "new": "b"}}},
        "comment": '2 replicas of "web" on sha256:b: web-1 would be replaced',
        "results": [{**WOULD_REPLACE, "name": "web-1"}],
        "dry_run": True,
    }
    salt = salt_mocks(**{"docker_deploy.redeploy": MagicMock(return_value=would)})
    ret = load("states", salt, test=True).deployed("web", REF, replicas=2)
    assert ret["result"] is None and ret["changes"] == would["changes"]
    assert salt["docker_deploy.redeploy"].call_args.kwargs == {"replicas": 2, "dry_run": True}


def test_mod_watch_forces_a_redeploy():
    salt = salt_mocks(**{"docker_deploy.redeploy": MagicMock(return_value=REPLACED)})
    ret = load("states", salt).mod_watch("web", sfun="deployed", image=REF, tag="prod")
    assert ret["result"] is True
    assert salt["docker_deploy.redeploy"].call_args.kwargs["force"] is True
    assert load("states", salt).mod_watch("web", sfun="absent")["result"] is False


# --- group ------------------------------------------------------------------------------


def entry_result(name, report=None, error=None, message=None):
    return {"name": name, "report": report, "error": error, "message": message}


@pytest.mark.parametrize("test", [False, True])
def test_group_passes_entries_with_defaults_and_its_own_options(test):
    salt = salt_mocks()
    load("states", salt, test=test).group(
        "frontends",
        containers=[
            {"name": "web", "image": "reg/web", "tag": "prod"},
            {"name": "api", "image": "reg/api", "restart_policy": "always"},
        ],
        concurrency=2,
        restart_policy="unless-stopped",
        __id__="frontends",
    )
    (entries,), options = salt["docker_deploy.redeploy_group"].call_args
    assert entries == [
        {"name": "web", "image": "reg/web:prod", "restart_policy": "unless-stopped"},
        {"name": "api", "image": "reg/api", "restart_policy": "always"},
    ]
    assert options == ({"concurrency": 2, "dry_run": True} if test else {"concurrency": 2})


def test_group_one_failing_entry_fails_the_state_and_reports_the_others():
    results = [
        entry_result("web", report={**REPLACED, "name": "web"}),
        entry_result("api", error="ImageNotFound", message='container "api": not found'),
    ]
    salt = salt_mocks(**{"docker_deploy.redeploy_group": MagicMock(return_value=results)})
    ret = load("states", salt).group("frontends", containers=[{}, {}])
    assert ret["result"] is False
    assert set(ret["changes"]) == {"web"} and "deploy" in ret["changes"]["web"]
    assert 'api: ImageNotFound: container "api": not found' in ret["comment"]
    assert ret["comment"].startswith("web: replaced")


def test_group_test_mode_is_none_when_an_entry_would_change_false_when_one_fails():
    would = [
        entry_result("web", report={**WOULD_REPLACE, "name": "web"}),
        entry_result("api", report={"action": "none", "changes": {}, "comment": "ok"}),
    ]
    salt = salt_mocks(**{"docker_deploy.redeploy_group": MagicMock(return_value=would)})
    ret = load("states", salt, test=True).group("frontends", containers=[{}, {}])
    assert ret["result"] is None and list(ret["changes"]) == ["web"]
    assert "deploy" not in ret["changes"]["web"]
    failing = [*would, entry_result("db", error="RegistryError", message="refused")]
    salt = salt_mocks(**{"docker_deploy.redeploy_group": MagicMock(return_value=failing)})
    ret = load("states", salt, test=True).group("frontends", containers=[{}, {}, {}])
    assert ret["result"] is False and "db: RegistryError: refused" in ret["comment"]


def real_salt(test=False):
    """The real execution module as ``__salt__``: bad input is refused by the core before any
    Docker call, so these need no Engine."""
    module = load("modules", test=test)
    return {
        f"docker_deploy.{name}": getattr(module, name)
        for name in ("redeploy", "redeploy_group", "remove")
    }


@pytest.mark.parametrize("test", [False, True])
def test_a_group_entry_with_replicas_is_refused_cleanly_in_both_modes(test):
    ret = load("states", real_salt(test), test=test).group(
        "frontends", containers=[{"name": "web", "image": "reg/web", "replicas": 2}]
    )
    assert ret["result"] is False
    assert "replicas: not an option of a group entry" in ret["comment"]


def test_a_malformed_group_entry_is_named_without_its_values():
    salt = real_salt()
    secret = "hunter2-in-a-malformed-entry"
    entries = [
        {"name": "web", "image": "reg/web"},
        {
            "image": "reg/api",
            "auth": {"username": "ci", "password": secret},
            "environment": {"TOKEN": secret},
        },
    ]
    ret = load("states", salt).group("frontends", containers=entries)
    assert ret["result"] is False
    assert "entry 2" in ret["comment"] and "no name" in ret["comment"]
    assert secret not in str(ret), ret
    ret = load("states", salt).group("frontends", containers=["web"])
    assert ret["result"] is False and "entry 1" in ret["comment"]


# --- absent -----------------------------------------------------------------------------


@pytest.mark.parametrize("test", [False, True])
def test_absent(test):
    salt = salt_mocks()
    if test:
        salt["docker_deploy.remove"].return_value["dry_run"] = True
    ret = load("states", salt, test=test).absent("web")
    assert ret["changes"] == {"container_id": {"old": "c1", "new": None}}
    assert ret["result"] is (None if test else True)
    salt["docker_deploy.remove"].assert_called_once_with(
        "web", **({"dry_run": True} if test else {})
    )
    assert ("would be removed" in ret["comment"]) is test

    absent = {"removed": False, "container_id": None, "helpers_removed": [], "warnings": []}
    gone = salt_mocks(**{"docker_deploy.remove": MagicMock(return_value=absent)})
    ret = load("states", gone, test=test).absent("web")
    assert ret["result"] is True and ret["changes"] == {}
    assert "already absent" in ret["comment"]


def test_absent_removes_what_an_interrupted_redeploy_left():
    left = {
        "removed": False,
        "container_id": None,
        "helpers_removed": ["web.deploy-old"],
        "warnings": ['"web.deploy-new" (abc) was left: this tool did not create it for "web"'],
    }
    salt = salt_mocks(**{"docker_deploy.remove": MagicMock(return_value=left)})
    ret = load("states", salt).absent("web", lock_timeout=5)
    assert ret["result"] is True
    assert ret["changes"] == {"helpers_removed": ["web.deploy-old"]}
    assert "web.deploy-old removed" in ret["comment"] and "WARNING" in ret["comment"]
    salt["docker_deploy.remove"].assert_called_once_with("web", lock_timeout=5)


# --- execution module and shared helpers --------------------------------------------------


def test_execution_module_raises_command_execution_error_with_the_core_message():
    module = load("modules")
    with pytest.raises(CommandExecutionError, match=r"InvalidSpec: .*enviroment"):
        module.redeploy("web", "busybox", pull=False, enviroment={}, __pub_fun="x")
    with pytest.raises(CommandExecutionError, match="InvalidSpec"):
        module.pull("Not A Reference")


def test_virtual_names():
    assert load("modules").__virtual__() == "docker_deploy"
    assert load("states", {"docker_deploy.redeploy": None}).__virtual__() == "docker_deploy"
    assert load("states", {}).__virtual__()[0] is False


def test_virtual_is_false_with_the_reason_when_the_core_cannot_be_imported(monkeypatch):
    # A None entry in sys.modules makes `import saltext.docker_deploy` raise ImportError.
    monkeypatch.setitem(sys.modules, "saltext.docker_deploy", None)
    monkeypatch.setitem(sys.modules, "saltext.docker_deploy.utils", None)
    for kind in ("modules", "states"):
        available, reason = load(kind, {"docker_deploy.redeploy": None}).__virtual__()
        assert available is False and "cannot be imported" in reason


def test_clean_kwargs_and_auth_lookup():
    assert clean_kwargs({"__pub_jid": 1, "__env__": "base", "environment": {}}) == {
        "environment": {}
    }
    assert registry_of("reg.example.com:5000/team/web:prod") == "reg.example.com:5000"
    assert registry_of("team/web") == "docker.io"
    assert registry_of("localhost/web") == "localhost"
    pillar = {
        "docker-registries": {
            "https://reg.example.com:5000/": {"username": "u", "password": "p", "email": "e"},
            "https://index.docker.io/v1/": {"username": "hub", "password": "h"},
        }
    }
    assert find_auth(REF, None, pillar) == {"username": "u", "password": "p"}
    assert find_auth("team/web", None, pillar)["username"] == "hub"
    assert find_auth("other.example.com/x", None, pillar) is None
    assert find_auth(REF, {"username": "arg"}, pillar) == {"username": "arg"}


# --- deployed states of one run, settled together ---------------------------------------


def chunk(name, **args):
    return {
        "state": "docker_deploy",
        "fun": "deployed",
        "__id__": name,
        "__sls__": "apps",
        "order": 1,
        "require": [{"file": "x"}],
        "name": name,
        "image": f"{REF}-{name}",
        "tag": "prod",
        **args,
    }


def none_report(name):
    return {"action": "none", "changes": {}, "comment": f"{name} is up to date", "dry_run": True}


def in_a_run(module, lowstate, running=None):
    module.__lowstate__ = lowstate
    module.__instance_id__ = 4242
    module.__running__ = running or {}
    module.__context__ = {}
    return module


def test_the_deployed_states_of_a_run_are_settled_together_at_the_first():
    lowstate = [chunk("web"), chunk("api", environment={"A": "1"}), chunk("db", replicas=2)]
    group = MagicMock(
        return_value=[
            {"name": "web", "report": none_report("web")},
            {"name": "api", "report": {**WOULD_REPLACE, "name": "api"}},
        ]
    )
    salt = salt_mocks(**{"docker_deploy.redeploy_group": group})
    states = in_a_run(load("states", salt), lowstate)
    web = states.deployed("web", f"{REF}-web", tag="prod")
    assert web == {"name": "web", "result": True, "changes": {}, "comment": "web is up to date"}
    # One dry run of the plain deployed states, with their own arguments only.
    (entries,), options = group.call_args
    assert options == {"dry_run": True, "concurrency": 8}
    assert entries == [
        {"name": "web", "image": f"{REF}-web:prod"},
        {"name": "api", "image": f"{REF}-api:prod", "environment": {"A": "1"}},
    ]
    salt["docker_deploy.redeploy"].assert_not_called()
    # A state that would change takes its own full way; so do replicas.
    states.deployed("api", f"{REF}-api", tag="prod", environment={"A": "1"})
    states.deployed("db", f"{REF}-db", tag="prod", replicas=2)
    assert [c.args[0] for c in salt["docker_deploy.redeploy"].call_args_list] == ["api", "db"]
    assert group.call_count == 1


def test_settled_answers_are_not_used_once_a_state_changed_something_or_when_forced():
    group = MagicMock(
        return_value=[
            {"name": "web", "report": none_report("web")},
            {"name": "api", "report": none_report("api")},
        ]
    )
    salt = salt_mocks(**{"docker_deploy.redeploy_group": group})
    changed = {"file_|-x_|-x_|-managed": {"changes": {"diff": "..."}, "result": True}}
    states = in_a_run(load("states", salt), [chunk("web"), chunk("api")], running=changed)
    states.deployed("web", f"{REF}-web", tag="prod")
    salt["docker_deploy.redeploy"].assert_called_once()
    group.assert_not_called()
    states = in_a_run(load("states", salt), [chunk("web"), chunk("api")])
    states.mod_watch("web", sfun="deployed", image=f"{REF}-web", tag="prod")
    assert salt["docker_deploy.redeploy"].call_args.kwargs["force"] is True


def test_a_run_with_one_deployed_state_or_a_bad_one_is_not_settled_together():
    salt = salt_mocks(
        **{"docker_deploy.redeploy_group": MagicMock(side_effect=CommandExecutionError("bad"))}
    )
    states = in_a_run(load("states", salt), [chunk("web"), chunk("api")])
    assert states.deployed("web", f"{REF}-web", tag="prod")["result"] is True
    salt["docker_deploy.redeploy"].assert_called_once()
    alone = salt_mocks()
    states = in_a_run(load("states", alone), [chunk("web")])
    states.deployed("web", f"{REF}-web", tag="prod")
    alone["docker_deploy.redeploy_group"].assert_not_called()
    alone["docker_deploy.redeploy"].assert_called_once()


# Events from the execution module (the core faked: what matters is what is fired).


class _FakeCore:
    DeployError = docker_deploy.DeployError

    def __init__(self, result=None, error=None):
        self.result, self.error, self.calls = result, error, []

    def _call(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.error is not None:
            raise self.error
        return self.result

    redeploy = update = remove = rollback = redeploy_group = _call


def _events_module(monkeypatch, core, send=None, names=None):
    sent = []

    def event_send(tag, data):
        sent.append((tag, data))
        return True if send is None else send(tag, data)

    salt = {"event.send": event_send, "config.get": lambda key: names}
    module = load("modules", salt=salt)
    module.__opts__ = {"test": False, "id": "m1"}
    monkeypatch.setattr(module, "core", core)
    return module, sent


REPLACED_REPORT = {
    "name": "web", "image": REF, "action": "replaced", "dry_run": False, "steps": [],
    "image_id": "sha256:2", "previous_image_id": "sha256:1", "strategy": "create-first",
}  # fmt: skip


def test_a_change_fires_its_event_and_events_false_or_a_dry_run_none(monkeypatch):
    module, sent = _events_module(monkeypatch, _FakeCore(REPLACED_REPORT))
    assert module.redeploy("web", REF) == REPLACED_REPORT
    assert [(tag, data["minion"]) for tag, data in sent] == [
        ("saltext/docker_deploy/replaced", "m1")
    ]
    module.redeploy("web", REF, events=False)
    module.redeploy("web", REF, dry_run=True)
    assert len(sent) == 1


def test_a_failure_fires_its_event_and_still_raises(monkeypatch):
    err = docker_deploy.RolledBack("failed: unhealthy")
    err.report = {**REPLACED_REPORT, "action": "rolled-back", "failure": {"step": "verify"}}
    module, sent = _events_module(monkeypatch, _FakeCore(error=err))
    with pytest.raises(CommandExecutionError, match="RolledBack"):
        module.redeploy("web", REF)
    assert [tag for tag, _ in sent] == ["saltext/docker_deploy/rolled_back"]
    bad = _FakeCore(error=docker_deploy.InvalidSpec("bad"))
    module, sent = _events_module(monkeypatch, bad)
    with pytest.raises(CommandExecutionError):
        module.redeploy("web", REF)
    assert sent == []


def test_an_event_that_cannot_be_built_or_sent_never_fails_the_deploy(monkeypatch, caplog):
    module, _ = _events_module(monkeypatch, _FakeCore(REPLACED_REPORT), send=lambda *_: False)
    assert module.redeploy("web", REF)["action"] == "replaced"
    assert "was not sent" in caplog.text
    monkeypatch.setattr(module, "result_events", MagicMock(side_effect=KeyError("x")))
    assert module.redeploy("web", REF)["action"] == "replaced"
    assert "could not be built" in caplog.text


def test_update_takes_the_minions_names_when_none_are_given(monkeypatch):
    core = _FakeCore([])
    module, _ = _events_module(monkeypatch, core, names=["web-*"])
    module.update(REF + ":qa")
    module.update(REF + ":qa", names=["api"])
    assert [kwargs["names"] for _, kwargs in core.calls] == [["web-*"], ["api"]]


class _FakeBus:
    """salt.utils.event's local bus, answering or not."""

    def __init__(self, answers: bool, fired: list):
        self.answers, self.fired = answers, fired

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def fire_event(self, data, tag, timeout=1000):
        self.fired.append((tag, timeout))
        return self.answers


@pytest.mark.parametrize("answers", [True, False])
def test_masterless_events_wait_briefly_for_the_local_bus_and_not_again(monkeypatch, answers):
    entries = [{"name": n, "report": {**REPLACED_REPORT, "name": n}} for n in ("a", "b")]
    module, sent = _events_module(monkeypatch, _FakeCore(entries))
    module.__opts__ = {"test": False, "id": "m1", "local": True, "sock_dir": "/nonexistent"}
    module.__context__ = {}
    fired, opened = [], []

    def get_event(*args, **kwargs):
        opened.append(kwargs)
        return _FakeBus(answers, fired)

    monkeypatch.setattr(module.salt.utils.event, "get_event", get_event)
    module.redeploy_group([{"name": "a"}, {"name": "b"}])  # two entries: two events
    module.redeploy_group([{"name": "a"}, {"name": "b"}])
    assert sent == []  # not through event.send, which waits a second per event
    assert all(timeout == module.LOCAL_BUS_WAIT_MS for _, timeout in fired)
    if answers:
        assert len(fired) == 4 and len(opened) == 2  # one connection per call
    else:
        # The bus did not answer the first: nothing more is tried in this process.
        assert len(fired) == 1 and len(opened) == 1
