"""State module ``docker_deploy``: keep a container on the newest image of a tag, safely.

.. code-block:: yaml

    web:
      docker_deploy.deployed:
        - image: registry.example.com/team/web
        - tag: {{ grains['env'] }}
        - port_bindings: ["8080:80"]
        - environment: {APP_ENV: prod}
        - restart_policy: unless-stopped

``changes`` are by image ID and declared setting, never by downloaded layers. With
``test=True`` the core runs the same path as a dry run (``dry_run=True``): nothing is pulled,
created, started, stopped, renamed or removed; the registry is asked for the tag's digest and
the plan is made from what runs, as the real run would make it.

Every option, its default and its doc come from the core's table (``OPTION_TABLE``); this
module passes the arguments through and formats what the core returns.
"""

from __future__ import annotations

import logging

try:
    from salt.state import STATE_INTERNAL_KEYWORDS

    from saltext.docker_deploy import OPTION_TABLE
    from saltext.docker_deploy.utils import (
        clean_kwargs,
        error_events,
        image_reference,
        options_doc,
        result_events,
        with_pinned_digest,
    )

    IMPORT_ERROR = None
except ImportError as err:
    IMPORT_ERROR = err
    OPTION_TABLE = []
    STATE_INTERNAL_KEYWORDS = frozenset()

__virtualname__ = "docker_deploy"

log = logging.getLogger(__name__)


def __virtual__():
    if IMPORT_ERROR is not None:
        return False, f"saltext.docker_deploy cannot be imported: {IMPORT_ERROR}"
    if "docker_deploy.redeploy" not in __salt__:
        return False, "the docker_deploy execution module is not available"
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _args(kwargs):
    """The user's arguments, with ``test=True`` as the core's dry run."""
    args = clean_kwargs(kwargs)
    if __opts__["test"]:
        args["dry_run"] = True
    return args


def _pinned(reference, args):
    """``args`` with the digest a fleet rollout pinned for ``reference``, if any (the runner
    passes them in the pillar ``docker_deploy:digests``)."""
    return with_pinned_digest(reference, args, __pillar__)


def _outcomes(ret, build):
    """Adds what happened to each container, as its event says it (``build(minion, via)``
    gives the events), under ``docker_deploy``: a fleet rollout reads the outcome, the image
    IDs, the downtime, and the failing step and its reason from there."""
    try:
        outcomes = [data for _, data in build(__opts__.get("id"), "state")]
    except Exception:  # pylint: disable=broad-except
        log.exception("docker_deploy: the outcomes of %s could not be summed up", ret["name"])
        return ret
    if outcomes:
        ret["docker_deploy"] = outcomes
    return ret


def _failed(ret, err, name=None, image=None):
    # The execution module raises the core's error as the cause of a CommandExecutionError:
    # the core's carries the report of the run that failed (RolledBack, a failed start).
    cause = err.__cause__ if err.__cause__ is not None else err
    _outcomes(ret, lambda minion, via: error_events(cause, minion, via, name, image))
    ret["result"] = False
    if __opts__["test"] and not f"{err}".startswith("InvalidSpec"):
        ret["comment"] = f"cannot tell whether {ret['name']!r} would change: {err}"
    else:
        ret["comment"] = f"{err}"
    return ret


def deployed(name, image, tag=None, **kwargs):
    """
    Ensure the container ``name`` runs the current image of ``image`` (``:tag`` appended when
    ``tag`` is given) with the declared settings, replacing it safely only when either differs.

    name
        The container name.
    image
        The image reference, ``[registry[:port]/]path[:tag][@digest]``.
    tag
        Appended to ``image``; for example ``{{ grains['env'] }}`` or a pillar value.
    {options}
    **kwargs
        The container's settings, as for Salt's ``docker_container.running``: ``command``,
        ``entrypoint``, ``environment``, ``port_bindings``, ``binds``, ``volumes``, ``labels``,
        ``restart_policy``, ``network_mode``, ``networks``, ``user``, ``working_dir``,
        ``hostname``, ``extra_hosts``, ``shutdown_timeout``, ``stop_signal``, ``healthcheck``.
    """
    ret = _ret(name)
    reference = image_reference(image, tag)
    args = _pinned(reference, _args(kwargs))
    settled = _settled_together(name, args)
    if settled is not None:
        return _report(ret, settled)
    try:
        result = __salt__["docker_deploy.redeploy"](name, reference, **args)
    except Exception as err:
        return _failed(ret, err, name, reference)
    return _report(ret, result)


def _settled_together(name, args):
    """The report of a no-op for ``name`` when this run's ``deployed`` states were settled
    together, else ``None`` (the state then calls the core as usual).

    At the first ``deployed`` state of a run with several, every one of them is settled at
    once, as a group is: one dry run of them all (one listing of their containers, the
    registry asked for every tag at the same time, nothing changed). A state whose container
    was found up to date returns that; any other takes its own full way, with the lock. The
    answer is used only while no state of the run has changed anything since, and never for a
    forced redeploy (``watch``) or replicas.
    """
    lowstate = globals().get("__lowstate__")
    instance = globals().get("__instance_id__")
    if not lowstate or instance is None or not _plain(args):
        return None
    if any(result.get("changes") for result in (globals().get("__running__") or {}).values()):
        return None
    key = f"docker_deploy.settled.{instance}"
    if key not in __context__:
        __context__[key] = _settle_all(lowstate)
    report = __context__[key].get(name)
    return report if report is not None and report["action"] == "none" else None


def _settle_all(lowstate):
    """One dry run of every plain ``deployed`` state of the run, as a group: {name: report}."""
    entries = []
    for chunk in lowstate:
        if chunk.get("state") != __virtualname__ or chunk.get("fun") != "deployed":
            continue
        args = {
            k: v
            for k, v in chunk.items()
            if k not in STATE_INTERNAL_KEYWORDS and not k.startswith("__")
        }
        if not _plain(args):
            continue
        reference = image_reference(args.pop("image", None), args.pop("tag", None))
        entries.append({**_pinned(reference, args), "image": reference})
    if len(entries) < 2:
        return {}
    try:
        # Read only: more at once costs nothing but the registry's and the Engine's time.
        results = __salt__["docker_deploy.redeploy_group"](entries, dry_run=True, concurrency=8)
    except Exception as err:  # a bad entry: each state says what is wrong with its own
        log.info("docker_deploy: the deployed states were not settled together: %s", err)
        return {}
    settled = {r["name"]: r["report"] for r in results if r.get("report")}
    up_to_date = sorted(name for name, report in settled.items() if report["action"] == "none")
    log.info(
        "docker_deploy: %d deployed states settled together; up to date: %s",
        len(entries),
        ", ".join(up_to_date) or "none",
    )
    return settled


def _plain(args):
    """A ``deployed`` state whose no-op does nothing at all: not forced (a ``watch`` that
    fired), no replicas, no ``keep_images`` (which prunes on every run)."""
    return (
        not args.get("force") and args.get("replicas") is None and args.get("keep_images") is None
    )


def _report(ret, result):
    """The state's return from the core's report (of one container, or of its replicas)."""
    ret["changes"] = dict(result["changes"])
    ret["comment"] = result["comment"]
    _outcomes(ret, lambda minion, via: result_events(result, minion, via))
    replicas = "results" in result
    for report in result["results"] if replicas else [result]:
        if report.get("downtime_ms") is not None:
            gap = f"downtime {report['downtime_ms']:.0f} ms"
            ret["comment"] += f"; {report['name']} {gap}" if replicas else f" ({gap})"
        for warning in report.get("warnings") or []:
            ret["comment"] += f"; WARNING: {warning}"
    if ret["changes"] and result.get("dry_run"):
        ret["result"] = None
    elif ret["changes"] and not replicas:
        ret["changes"]["deploy"] = _summary(result)
    return ret


def _summary(result):
    """What a redeploy did, for ``changes``: the images, the gap, the steps and their times."""
    return {
        "strategy": result.get("strategy"),
        "old_image_id": result.get("previous_image_id"),
        "new_image_id": result.get("image_id"),
        "downtime_ms": result.get("downtime_ms"),
        "steps": [
            f"{step['step']} {step['detail']} ({step['duration_ms']:.0f} ms)"
            for step in result.get("steps") or []
        ],
        "removed_images": result.get("removed_images") or [],
    }


def group(name, containers, **kwargs):
    """
    Keep several containers on their tags in one state: each is redeployed (or left alone)
    exactly as ``deployed`` would, up to ``concurrency`` at once, each verified and rolled back
    on its own; one failure does not stop the others, and makes the state fail.

    .. code-block:: yaml

        frontends:
          docker_deploy.group:
            - concurrency: 4
            - restart_policy: unless-stopped   # a default for every entry
            - containers:
              - {name: web, image: registry.example.com/team/web, tag: prod,
                 port_bindings: ["8080:80"]}
              - {name: api, image: registry.example.com/team/api, tag: prod}

    name
        The state's ID (not a container).
    containers
        A list of dicts, each with ``name``, ``image``, optional ``tag``, and any argument of
        ``deployed`` (options and settings) but those of the group itself.
    {group_options}
    **kwargs
        Defaults for every entry (an entry's own value wins): the options below and settings.

    Options of each entry:

    {options}
    """
    ret = _ret(name)
    args = _args(kwargs)
    own = {row["name"] for row in OPTION_TABLE if "redeploy_group" in row["calls"]}
    options = {k: v for k, v in args.items() if k in own}
    defaults = {k: v for k, v in args.items() if k not in own}
    entries = []
    for item in containers or []:
        # A malformed entry is passed on as it is: the core names it, and never its values.
        if isinstance(item, dict):
            item = {**defaults, **item}
            item["image"] = image_reference(item.get("image"), item.pop("tag", None))
            item = _pinned(item["image"], item)
        entries.append(item)
    try:
        results = __salt__["docker_deploy.redeploy_group"](entries, **options)
    except Exception as err:
        return _failed(ret, err)
    _outcomes(ret, lambda minion, via: result_events(results, minion, via))
    lines = []
    for result in results:
        report = result.get("report")
        if report is None:
            ret["result"] = False
            lines.append(f"{result['name']}: {result['error']}: {result['message']}")
            continue
        one = _report(_ret(result["name"]), report)
        lines.append(f"{result['name']}: {one['comment']}")
        if one["changes"]:
            ret["changes"][result["name"]] = one["changes"]
            if one["result"] is None and ret["result"] is True:
                ret["result"] = None
    ret["comment"] = "\n".join(lines) or "no containers declared"
    return ret


def absent(name, **kwargs):
    """
    Ensure no container ``name`` exists (stopped gracefully, then removed), nor the helper
    containers an interrupted redeploy of it left (``name.deploy-new``, ``name.deploy-old``).
    Its volumes are kept. Takes the same host lock as a redeploy of ``name``.

    {remove_options}
    """
    ret = _ret(name)
    try:
        report = __salt__["docker_deploy.remove"](name, **_args(kwargs))
    except Exception as err:
        return _failed(ret, err, name)
    if report["removed"]:
        ret["changes"]["container_id"] = {"old": report["container_id"], "new": None}
    if report["helpers_removed"]:
        ret["changes"]["helpers_removed"] = report["helpers_removed"]
    would = "would be " if report.get("dry_run") else ""
    done = [f"{would}removed"] if report["removed"] else ["already absent"]
    if report["helpers_removed"]:
        done.append(f"left-over {', '.join(report['helpers_removed'])} {would}removed")
    ret["comment"] = f"container {name!r} " + "; ".join(done)
    for warning in report["warnings"]:
        ret["comment"] += f"; WARNING: {warning}"
    if ret["changes"] and report.get("dry_run"):
        ret["result"] = None
    return ret


def mod_watch(name, sfun=None, **kwargs):
    """A ``watch`` requisite that fired forces a redeploy of a ``deployed`` container."""
    if sfun == "deployed":
        kwargs["force"] = True
        return deployed(name, **kwargs)
    ret = _ret(name)
    ret["result"] = False
    ret["comment"] = f"watch is not supported by docker_deploy.{sfun}"
    return ret


if IMPORT_ERROR is None and deployed.__doc__:  # no docstrings under python -OO
    # The option sections of the docs (`salt-call sys.state_doc docker_deploy`), from the table.
    deployed.__doc__ = deployed.__doc__.replace("{options}", options_doc(OPTION_TABLE, "redeploy"))
    group.__doc__ = group.__doc__.replace(
        "{group_options}", options_doc(OPTION_TABLE, "redeploy_group")
    ).replace("{options}", options_doc(OPTION_TABLE, "group_entry"))
    absent.__doc__ = absent.__doc__.replace("{remove_options}", options_doc(OPTION_TABLE, "remove"))
