"""The decisions of a fleet rollout (``saltext.docker_deploy.rollout``), without Salt: the
arguments, the canary and batches, the images the states declare, what a minion's apply did;
and the state module taking the digest the rollout pinned from the pillar."""

from __future__ import annotations

import pytest

from saltext.docker_deploy import rollout as fleet
from tests.unit.test_salt_modules import REF, REPLACED, load, salt_mocks

FLEET = [f"m{i}" for i in range(1, 8)]


@pytest.mark.parametrize(
    ("canary", "batch", "expected"),
    [
        (1, 1, [["m1"], ["m2"], ["m3"], ["m4"], ["m5"], ["m6"], ["m7"]]),
        (1, 3, [["m1"], ["m2", "m3", "m4"], ["m5", "m6", "m7"]]),
        (2, "50%", [["m1", "m2"], ["m3", "m4", "m5", "m6"], ["m7"]]),
        (0, "100%", [FLEET]),
        (0, "10%", [[m] for m in FLEET]),
        (9, 2, [FLEET]),
    ],
)
def test_the_canary_goes_alone_then_batches_of_a_count_or_a_percentage(canary, batch, expected):
    settings = fleet.Settings.parse("m*", "web", canary=canary, batch=batch)
    plan = settings.plan(FLEET)
    assert plan.batches == expected
    assert [m for b in plan.batches for m in b] == FLEET
    labels = [plan.label(i) for i in range(len(plan.batches))]
    assert labels[0] == ("canary" if canary else "batch 1")
    assert labels[-1] != "canary" or len(plan.batches) == 1


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ({"tgt": ""}, "tgt must name"),
        ({"mods": ""}, "mods must name"),
        ({"mods": [1]}, "mods must name"),
        ({"canary": -1}, "canary must be at least 0"),
        ({"canary": True}, "canary must be a whole number"),
        ({"batch": 0}, "batch"),
        ({"batch": "0%"}, "percentage"),
        ({"batch": "150%"}, "percentage"),
        ({"batch": "half"}, "batch"),
        ({"pause": -1}, "pause must be between"),
        ({"timeout": 0}, "timeout must be between"),
        ({"timeout": "nan"}, "timeout must be between"),
        ({"max_failures": "x"}, "max_failures must be a whole number"),
        ({"rollback_on_failure": "yes"}, "rollback_on_failure must be True or False"),
        ({"pillar": []}, "pillar must be a dict"),
        ({"images": [""]}, "images must be a list"),
        ({"bacth": 2}, "unknown argument(s): bacth"),
        ({"auth": {"username": "u"}}, "unknown argument(s): auth"),
        ({"tgt_type": "grains"}, "tgt_type 'grains' is not one of Salt's"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_any_minion_is_asked(given, needle):
    args = {"tgt": "m*", "mods": "web", **given}
    with pytest.raises(fleet.RolloutError) as raised:
        fleet.Settings.parse(args.pop("tgt"), args.pop("mods"), **args)
    assert needle in str(raised.value)


def test_arguments_in_their_command_line_forms():
    settings = fleet.Settings.parse(
        "m*", "web, db", canary="2", batch="3", pause="1.5", images="a/b:c,d/e:f"
    )
    assert settings.mods == ["web", "db"]
    assert (settings.canary, settings.pause) == (2, 1.5)
    assert settings.images == ["a/b:c", "d/e:f"]


def test_the_images_declared_by_deployed_and_group_states():
    chunks = [
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/web", "tag": "prod"},
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/api:qa"},
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/pinned@sha256:" + "a" * 64},
        {
            "state": "docker_deploy",
            "fun": "group",
            "containers": [{"image": "reg/a", "tag": "1"}, {"image": "reg/web:prod"}, "junk"],
        },
        {"state": "docker_deploy", "fun": "absent", "name": "old"},
        {"state": "docker_container", "fun": "running", "image": "reg/theirs:1"},
    ]
    assert fleet.declared_images(chunks) == {"reg/web:prod", "reg/api:qa", "reg/a:1"}
    # A group's own image and tag are each entry's defaults, as the state merges them; a
    # declaration that does not ask the registry is not pinned.
    grouped = {
        "state": "docker_deploy",
        "fun": "group",
        "image": "reg/shared",
        "tag": "prod",
        "containers": [{"name": "a"}, {"name": "b", "tag": "qa"}, {"name": "c", "pull": False}],
    }
    local = [
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/x:1", "pull": False},
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/y:1", "pull_policy": "never"},
        {"state": "docker_deploy", "fun": "deployed", "image": "reg/z:1", "pull_policy": "missing"},
    ]
    assert fleet.declared_images([grouped, *local]) == {"reg/shared:prod", "reg/shared:qa"}
    assert fleet.declared_images(["Rendering SLS failed"]) == set()
    assert fleet.render_errors(["Rendering SLS 'base:web' failed"]) == [
        "Rendering SLS 'base:web' failed"
    ]
    assert fleet.render_errors(chunks) == []


def test_the_pinned_digests_join_the_callers_pillar():
    pillar = {"app": 1, "docker_deploy": {"other": True, "digests": {"x:1": "sha256:1"}}}
    merged = fleet.with_digests(pillar, {"reg/web:prod": "sha256:2"})
    assert merged["app"] == 1 and merged["docker_deploy"]["other"] is True
    assert merged["docker_deploy"]["digests"] == {"x:1": "sha256:1", "reg/web:prod": "sha256:2"}
    assert "reg/web:prod" not in str(pillar)  # the caller's pillar is left as it was


def _chunk(result, changes=None, summary=None, comment="", run=0, sid="web"):
    chunk = {
        "result": result,
        "changes": changes or {},
        "comment": comment,
        "__run_num__": run,
        "__id__": sid,
    }
    if summary is not None:
        chunk["docker_deploy"] = summary
    return chunk


REPLACED_SUMMARY = {
    "name": "web",
    "outcome": "replaced",
    "old_image_id": "sha256:1",
    "new_image_id": "sha256:2",
    "old_digest": "reg/web@sha256:a",
    "new_digest": "reg/web@sha256:b",
    "downtime_ms": 80.0,
    "failure": None,
}


def test_what_a_minions_apply_did():
    steps = [{"step": "stop", "duration_ms": 1.0}]
    changed = {
        "ret": {"a": _chunk(True, {"image": 1}, [{**REPLACED_SUMMARY, "steps": steps}])},
        "retcode": 0,
    }
    outcome = fleet.minion_outcome(changed)  # the steps stay in the job's return
    assert outcome["outcome"] == "changed" and outcome["containers"] == [REPLACED_SUMMARY]
    assert fleet.images_of(outcome["containers"]) == {
        "old_image_id": "sha256:1",
        "new_image_id": "sha256:2",
        "downtime_ms": 80.0,
    }
    assert fleet.to_roll_back(outcome) == ["web"]
    assert fleet.minion_outcome({"ret": {"a": _chunk(True)}})["outcome"] == "unchanged"
    assert fleet.minion_outcome(None)["outcome"] == "no_answer"
    rendered = fleet.minion_outcome({"ret": ["Rendering SLS 'base:webapp' failed: x"]})
    assert rendered["outcome"] == "failed" and "Rendering SLS" in rendered["reason"]

    rolled = {
        **REPLACED_SUMMARY,
        "outcome": "rolled_back",
        "failure": {"step": "verify", "reason": "unhealthy: db unreachable"},
    }
    back = fleet.minion_outcome({"ret": {"a": _chunk(False, None, [rolled], "RolledBack: x")}})
    assert back["outcome"] == "rolled_back"
    assert back["reason"] == "web: verify: unhealthy: db unreachable"
    assert fleet.to_roll_back(back) == []  # it brought itself back

    other = {
        "a": _chunk(True, {"image": 1}, [REPLACED_SUMMARY], run=0),
        "b": _chunk(False, None, None, "file.managed failed", run=1, sid="conf"),
    }
    failed = fleet.minion_outcome({"ret": other})
    assert failed["outcome"] == "failed" and failed["reason"] == "conf: file.managed failed"
    assert fleet.to_roll_back(failed) == ["web"]


def test_what_a_minions_dry_run_would_do():
    would = {"ret": {"a": _chunk(None, {"image": 1})}}
    assert fleet.minion_outcome(would, test=True)["outcome"] == "would_change"
    assert fleet.minion_outcome({"ret": {"a": _chunk(True)}}, test=True)["outcome"] == "unchanged"


def test_the_state_deploys_the_digest_the_rollout_pinned_and_sums_up_what_it_did():
    digest = "sha256:" + "b" * 64
    salt = salt_mocks()
    salt["docker_deploy.redeploy"].return_value = {**REPLACED, "name": "web", "image": REF}
    states = load("states", salt, pillar={"docker_deploy": {"digests": {f"{REF}:prod": digest}}})
    states.__opts__["id"] = "m1"
    ret = states.deployed("web", REF, tag="prod")
    args = salt["docker_deploy.redeploy"].call_args
    assert args.args == ("web", f"{REF}:prod") and args.kwargs["digest"] == digest
    (summary,) = ret["docker_deploy"]
    assert summary["outcome"] == "replaced" and summary["new_image_id"] == "sha256:2"

    # Another tag, a declaration that does not ask the registry, or a digest given in the
    # state, is left alone.
    states.deployed("web", REF, tag="qa")
    assert "digest" not in salt["docker_deploy.redeploy"].call_args.kwargs
    states.deployed("web", REF, tag="prod", pull_policy="missing")
    assert "digest" not in salt["docker_deploy.redeploy"].call_args.kwargs
    states.deployed("web", REF, tag="prod", digest="sha256:" + "c" * 64)
    assert salt["docker_deploy.redeploy"].call_args.kwargs["digest"] == "sha256:" + "c" * 64


def test_a_group_entry_deploys_the_digest_the_rollout_pinned():
    digest = "sha256:" + "d" * 64
    salt = salt_mocks()
    states = load("states", salt, pillar={"docker_deploy": {"digests": {"reg/a:1": digest}}})
    states.group("g", [{"name": "a", "image": "reg/a", "tag": "1"}, {"name": "b", "image": "x"}])
    entries = salt["docker_deploy.redeploy_group"].call_args.args[0]
    assert entries[0]["digest"] == digest and "digest" not in entries[1]


def test_a_rolled_back_state_sums_up_the_failed_run_from_the_cores_error():
    from salt.exceptions import CommandExecutionError

    from saltext import docker_deploy

    cause = docker_deploy.RolledBack("failed: unhealthy")
    cause.report = {
        **REPLACED,
        "name": "web",
        "action": "rolled-back",
        "failure": {"step": "verify", "reason": "unhealthy: db unreachable"},
    }

    def failing(*_args, **_kwargs):
        raise CommandExecutionError(f"RolledBack: {cause}") from cause

    salt = salt_mocks(**{"docker_deploy.redeploy": failing})
    states = load("states", salt)
    states.__opts__["id"] = "m1"
    ret = states.deployed("web", REF, tag="prod")
    assert ret["result"] is False
    (summary,) = ret["docker_deploy"]
    assert summary["outcome"] == "rolled_back" and summary["minion"] == "m1"
    assert summary["failure"]["reason"] == "unhealthy: db unreachable"
    outcome = fleet.minion_outcome({"ret": {"web": {**ret, "__run_num__": 0}}})
    assert outcome["outcome"] == "rolled_back"
    assert outcome["reason"] == "web: verify: unhealthy: db unreachable"
