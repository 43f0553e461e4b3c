"""State and execution module logic with a mocked ``__salt__``: every branch, both test modes.

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
        "docker_deploy.check": MagicMock(
            return_value={"update_available": False, "remote_digest": "sha256:aaa"}
        ),
        "docker_deploy.preview": MagicMock(
            return_value={"action": "none", "changes": {}, "comment": "up to date"}
        ),
        "docker_deploy.image_diff": MagicMock(return_value={"exists": True, "container_id": "c1"}),
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
}

# What `deployed` hands the execution module when no option is given.
DEFAULT_OPTIONS = {
    "pull_policy": None,
    "strategy": "create-first",
    "health_timeout": 60,
    "min_uptime": 2,
    "rollback": True,
    "lock_timeout": 300,
    "keep_images": None,
    "replicas": None,
    "renew_anonymous_volumes": False,
    "pull_timeout": 600,
}


# --- deployed ---------------------------------------------------------------------------


def test_deployed_noop_is_true_with_empty_changes():
    salt = salt_mocks()
    ret = load("states", salt).deployed("web", REF, tag="prod", port_bindings=["80:80"])
    assert ret == {"name": "web", "result": True, "changes": {}, "comment": "up to date"}
    salt["docker_deploy.redeploy"].assert_called_once_with(
        "web",
        f"{REF}:prod",
        pull=True,
        force=False,
        auth=None,
        **DEFAULT_OPTIONS,
        port_bindings=["80:80"],
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
    assert ret["comment"].startswith("replaced") and "downtime 120 ms" in ret["comment"]


def test_deployed_error_is_false_and_names_the_cause():
    failing = MagicMock(side_effect=CommandExecutionError("InvalidSpec: unknown keyword 'x'"))
    salt = salt_mocks(**{"docker_deploy.redeploy": failing})
    ret = load("states", salt).deployed("web", REF, x=1)
    assert ret["result"] is False and ret["changes"] == {}
    assert "unknown keyword 'x'" in ret["comment"]


def test_deployed_strips_salt_dunders():
    salt = salt_mocks()
    load("states", salt).deployed("web", REF, __id__="web", __sls__="x", __env__="base")
    assert salt["docker_deploy.redeploy"].call_args.kwargs == {
        "pull": True,
        "force": False,
        "auth": None,
        **DEFAULT_OPTIONS,
    }


def test_test_mode_nothing_to_do_is_true_and_changes_nothing():
    salt = salt_mocks()
    ret = load("states", salt, test=True).deployed("web", REF, tag="qa")
    assert ret["result"] is True and ret["changes"] == {}
    salt["docker_deploy.redeploy"].assert_not_called()
    salt["docker_deploy.check"].assert_called_once_with(f"{REF}:qa", auth=None)
    assert salt["docker_deploy.preview"].call_args.kwargs["image_id"] is None


def test_test_mode_new_image_in_registry_predicts_replacement():
    predicted = {
        "action": "replaced",
        "changes": {"image": {"old": "sha256:1", "new": "sha256:digest"}},
        "comment": 'would be replaced "web": running sha256:1, tag now sha256:digest',
    }
    salt = salt_mocks(
        **{
            "docker_deploy.check": MagicMock(
                return_value={"update_available": True, "remote_digest": "sha256:digest"}
            ),
            "docker_deploy.preview": MagicMock(return_value=predicted),
        }
    )
    ret = load("states", salt, test=True).deployed("web", REF)
    assert ret["result"] is None
    assert ret["changes"]["image"]["old"] == "sha256:1"
    assert "sha256:digest" in ret["changes"]["image"]["new"]
    assert ret["comment"].startswith("would")
    assert salt["docker_deploy.preview"].call_args.kwargs["image_id"] == "sha256:digest"
    salt["docker_deploy.redeploy"].assert_not_called()


def test_test_mode_registry_unreachable_cannot_tell():
    unreachable = MagicMock(side_effect=CommandExecutionError("RegistryError: refused"))
    salt = salt_mocks(**{"docker_deploy.check": unreachable})
    ret = load("states", salt, test=True).deployed("web", REF)
    assert ret["result"] is False and "cannot tell" in ret["comment"]
    salt["docker_deploy.preview"].assert_not_called()
    salt["docker_deploy.redeploy"].assert_not_called()


def test_test_mode_without_pull_does_not_ask_the_registry():
    salt = salt_mocks()
    load("states", salt, test=True).deployed("web", REF, pull=False)
    salt["docker_deploy.check"].assert_not_called()


def test_mod_watch_forces_a_redeploy():
    salt = salt_mocks(**{"docker_deploy.redeploy": MagicMock(return_value=REPLACED)})
    ret = load("states", salt).mod_watch("web", sfun="deployed", image=REF, tag="prod")
    assert ret["result"] is True
    assert salt["docker_deploy.redeploy"].call_args.kwargs["force"] is True
    assert load("states", salt).mod_watch("web", sfun="absent")["result"] is False


@pytest.mark.parametrize("test", [False, True])
def test_absent(test):
    salt = salt_mocks()
    ret = load("states", salt, test=test).absent("web")
    assert ret["changes"] == {"container_id": {"old": "c1", "new": None}}
    assert ret["result"] is (None if test else True)
    assert salt["docker_deploy.remove"].called is (not test)

    absent = {"removed": False, "container_id": None, "helpers_removed": [], "warnings": []}
    gone = salt_mocks(
        **{
            "docker_deploy.image_diff": MagicMock(return_value={"exists": False}),
            "docker_deploy.remove": MagicMock(return_value=absent),
        }
    )
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


def test_a_malformed_group_entry_is_named_without_its_values():
    salt = salt_mocks()
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
