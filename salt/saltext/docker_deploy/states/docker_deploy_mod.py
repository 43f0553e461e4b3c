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
``test=True`` nothing is pulled, created, started, stopped, renamed or removed: the registry is
asked for the tag's digest and the plan is computed from what runs.
"""

from __future__ import annotations

try:
    from saltext.docker_deploy.utils import clean_kwargs

    IMPORT_ERROR = None
except ImportError as err:
    IMPORT_ERROR = err

__virtualname__ = "docker_deploy"


def __virtual__():
    if IMPORT_ERROR is not None:
        return False, f"saltext.docker_deploy cannot be imported: {IMPORT_ERROR}"
    if "docker_deploy.redeploy" not in __salt__:
        return False, "the docker_deploy execution module is not available"
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _reference(image, tag):
    return f"{image}:{tag}" if tag not in (None, "") else image


def deployed(
    name,
    image,
    tag=None,
    pull=True,
    auth=None,
    force=False,
    pull_policy=None,
    strategy="create-first",
    health_timeout=60,
    min_uptime=2,
    rollback=True,
    lock_timeout=300,
    keep_images=None,
    replicas=None,
    renew_anonymous_volumes=False,
    pull_timeout=600,
    **kwargs,
):
    """
    Ensure the container ``name`` runs the current image of ``image`` (``:tag`` appended when
    ``tag`` is given) with the declared settings, replacing it safely only when either differs.

    name
        The container name.
    image
        The image reference, ``[registry[:port]/]path[:tag][@digest]``.
    tag
        Appended to ``image``; for example ``{{ grains['env'] }}`` or a pillar value.
    pull
        Pull the tag first (default). With ``False`` the local tag is used as it is.
    pull_policy
        How to pull when ``pull`` is on: ``if-changed`` (default: ask the registry for the
        tag's digest, one request and no layers, and pull only when it moved), ``always``,
        ``missing`` (only when the tag is not on this host).
    auth
        ``{username, password}`` for the registry; by default the ``docker-registries`` pillar.
    force
        Replace the container even when nothing differs (what a ``watch`` requisite does).
    strategy
        ``create-first`` (default: the new container is created while the old one serves, the
        gap is one stop and one start), ``stop-first`` (the old one stops before anything
        else), ``start-first`` (the new one runs and is verified before the old one stops: no
        gap, but no fixed host ports).
    health_timeout
        Seconds to wait for ``healthy`` when the image or ``healthcheck`` defines a check.
    min_uptime
        Without a health check: seconds the new container must run without a restart.
    rollback
        On failure bring the previous container back (default). ``False`` keeps the failed
        container for inspection and the previous one stopped as ``<name>.deploy-old``.
    lock_timeout
        Seconds to wait while another run redeploys the same container on this host.
    keep_images
        After a success, remove images of the repository beyond the newest N (never one that
        a container uses).
    replicas
        Manage ``name-1`` .. ``name-N``, replaced one at a time; the rollout stops at the first
        failure. Host ports take a range, one port per replica (``8080-8082:80``).
    renew_anonymous_volumes
        Give the new container fresh anonymous volumes. By default it takes over the previous
        container's (an image's ``VOLUME`` and the declared ``volumes``), so their data stays.
    pull_timeout
        Seconds a pull may take before it is given up (default 600).
    **kwargs
        The container's settings, as for Salt's ``docker_container.running``: ``command``,
        ``entrypoint``, ``environment``, ``port_bindings``, ``binds``, ``volumes``, ``labels``,
        ``restart_policy``, ``network_mode``, ``networks``, ``user``, ``working_dir``,
        ``hostname``, ``extra_hosts``, ``shutdown_timeout``, ``stop_signal``, ``healthcheck``.
    """
    ret = _ret(name)
    reference = _reference(image, tag)
    spec = clean_kwargs(kwargs)
    options = {
        "pull_policy": pull_policy,
        "strategy": strategy,
        "health_timeout": health_timeout,
        "min_uptime": min_uptime,
        "rollback": rollback,
        "lock_timeout": lock_timeout,
        "keep_images": keep_images,
        "replicas": replicas,
        "renew_anonymous_volumes": renew_anonymous_volumes,
        "pull_timeout": pull_timeout,
    }
    try:
        if __opts__["test"]:
            return _predict(ret, name, reference, pull, auth, force, strategy, replicas, spec)
        result = __salt__["docker_deploy.redeploy"](
            name, reference, pull=pull, force=force, auth=auth, **options, **spec
        )
    except Exception as err:
        ret["result"] = False
        ret["comment"] = f"{err}"
        return ret
    ret["changes"] = result["changes"]
    ret["comment"] = result["comment"]
    reports = result["results"] if replicas is not None else [result]
    for report in reports:
        if report.get("downtime_ms") is not None:
            if replicas is not None:
                ret["comment"] += f"; {report['name']} downtime {report['downtime_ms']:.0f} ms"
            else:
                ret["comment"] += f" (downtime {report['downtime_ms']:.0f} ms)"
        for warning in report.get("warnings") or []:
            ret["comment"] += f"; WARNING: {warning}"
    if replicas is None and ret["changes"]:
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


def _predict(ret, name, reference, pull, auth, force, strategy, replicas, spec):
    """test=True: ask the registry (no pull) and plan against what runs; change nothing."""
    assumed_image = None
    if pull:
        try:
            remote = __salt__["docker_deploy.check"](reference, auth=auth)
        except Exception as err:
            ret["result"] = False
            ret["comment"] = f"cannot tell whether {name!r} would change: {err}"
            return ret
        if remote["update_available"]:
            assumed_image = remote["remote_digest"]
    predicted = __salt__["docker_deploy.preview"](
        name,
        reference,
        image_id=assumed_image,
        force=force,
        strategy=strategy,
        replicas=replicas,
        **spec,
    )
    if predicted["action"] == "none":
        ret["comment"] = predicted["comment"]
        return ret
    ret["result"] = None
    ret["changes"] = predicted["changes"]
    ret["comment"] = predicted["comment"].replace("would be ", "would have to be ", 1)
    if assumed_image is not None and replicas is None:
        if "image" in ret["changes"]:
            ret["changes"]["image"]["new"] = f"{reference} now {assumed_image} in the registry"
        # The registry gives a manifest digest, not yet an image ID: say which it is.
        ret["comment"] = ret["comment"].replace("tag now", "registry digest now", 1)
    return ret


# The keys of a `group` entry that are options of `redeploy`, not container settings.
_OPTIONS = (
    "pull",
    "pull_policy",
    "auth",
    "force",
    "strategy",
    "health_timeout",
    "min_uptime",
    "rollback",
    "lock_timeout",
    "keep_images",
    "renew_anonymous_volumes",
    "pull_timeout",
)


def group(name, containers, concurrency=4, **kwargs):
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
        ``deployed`` (options and settings) except ``replicas``.
    concurrency
        How many containers are redeployed at the same time (default 4).
    **kwargs
        Defaults for every entry (an entry's own value wins).
    """
    ret = _ret(name)
    defaults = clean_kwargs(kwargs)
    entries = []
    for number, item in enumerate(containers or [], start=1):
        if not isinstance(item, dict):
            ret["result"] = False
            ret["comment"] = f"entry {number} of containers is not a dict; nothing was changed"
            return ret
        entry = {**defaults, **item}
        if not entry.get("name") or not entry.get("image"):
            # Never the entry itself: it may hold credentials or environment values.
            missing = " and ".join(k for k in ("name", "image") if not entry.get(k))
            ret["result"] = False
            ret["comment"] = (
                f"entry {number} of containers has no {missing} (it has: "
                f"{', '.join(sorted(map(str, item)))}); nothing was changed"
            )
            return ret
        entry["image"] = _reference(entry["image"], entry.pop("tag", None))
        entries.append(entry)
    if __opts__["test"]:
        return _predict_group(ret, entries)
    try:
        results = __salt__["docker_deploy.redeploy_group"](entries, concurrency=concurrency)
    except Exception as err:
        ret["result"] = False
        ret["comment"] = f"{err}"
        return ret
    lines = []
    for result in results:
        report = result.get("report")
        if report is None:
            ret["result"] = False
            lines.append(f"{result['name']}: {result['error']}: {result['message']}")
            continue
        line = f"{result['name']}: {report['comment']}"
        if report.get("downtime_ms") is not None:
            line += f" (downtime {report['downtime_ms']:.0f} ms)"
        lines.append(line)
        if report["changes"]:
            ret["changes"][result["name"]] = {**report["changes"], "deploy": _summary(report)}
    ret["comment"] = "\n".join(lines) or "no containers declared"
    return ret


def _predict_group(ret, entries):
    """test=True for a group: each entry predicted as ``deployed`` would, nothing changed."""
    lines = []
    for entry in entries:
        spec = {k: v for k, v in entry.items() if k not in _OPTIONS and k not in ("name", "image")}
        one = _ret(entry["name"])
        _predict(
            one,
            entry["name"],
            entry["image"],
            entry.get("pull", True),
            entry.get("auth"),
            entry.get("force", False),
            entry.get("strategy", "create-first"),
            None,
            spec,
        )
        lines.append(f"{entry['name']}: {one['comment']}")
        if one["result"] is False:
            ret["result"] = False
        elif one["result"] is None and ret["result"] is not False:
            ret["result"] = None
        if one["changes"]:
            ret["changes"][entry["name"]] = one["changes"]
    ret["comment"] = "\n".join(lines) or "no containers declared"
    return ret


def absent(name, lock_timeout=300, **kwargs):
    """
    Ensure no container ``name`` exists (stopped gracefully, then removed), nor the helper
    containers an interrupted redeploy of it left (``name.deploy-new``, ``name.deploy-old``).
    Its volumes are kept. Takes the same host lock as a redeploy of ``name``.
    """
    ret = _ret(name)
    try:
        if __opts__["test"]:
            # Read only, and the image is irrelevant here: we only ask whether the name exists.
            current = __salt__["docker_deploy.image_diff"](name, "scratch")
            if current["exists"]:
                ret["changes"] = {"container_id": {"old": current["container_id"], "new": None}}
                ret["result"] = None
                ret["comment"] = f"container {name!r} would be removed"
            else:
                ret["comment"] = f"container {name!r} is already absent"
            return ret
        report = __salt__["docker_deploy.remove"](name, lock_timeout=lock_timeout)
    except Exception as err:
        ret["result"] = False
        ret["comment"] = f"{err}"
        return ret
    if report["removed"]:
        ret["changes"]["container_id"] = {"old": report["container_id"], "new": None}
    if report["helpers_removed"]:
        ret["changes"]["helpers_removed"] = report["helpers_removed"]
    done = ["removed"] if report["removed"] else ["already absent"]
    if report["helpers_removed"]:
        done.append(f"left-over {', '.join(report['helpers_removed'])} removed")
    ret["comment"] = f"container {name!r} " + "; ".join(done)
    for warning in report["warnings"]:
        ret["comment"] += f"; WARNING: {warning}"
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
