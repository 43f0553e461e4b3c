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


def deployed(name, image, tag=None, pull=True, auth=None, force=False, **kwargs):
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
    auth
        ``{username, password}`` for the registry; by default the ``docker-registries`` pillar.
    force
        Replace the container even when nothing differs (what a ``watch`` requisite does).
    **kwargs
        The container's settings, as for Salt's ``docker_container.running``: ``command``,
        ``entrypoint``, ``environment``, ``port_bindings``, ``binds``, ``volumes``, ``labels``,
        ``restart_policy``, ``network_mode``, ``networks``, ``user``, ``working_dir``,
        ``hostname``, ``extra_hosts``, ``shutdown_timeout``, ``stop_signal``.
    """
    ret = _ret(name)
    reference = _reference(image, tag)
    spec = clean_kwargs(kwargs)
    try:
        if __opts__["test"]:
            return _predict(ret, name, reference, pull, auth, force, spec)
        result = __salt__["docker_deploy.redeploy"](
            name, reference, pull=pull, force=force, auth=auth, **spec
        )
    except Exception as err:
        ret["result"] = False
        ret["comment"] = f"{err}"
        return ret
    ret["changes"] = result["changes"]
    ret["comment"] = result["comment"]
    if result.get("downtime_ms") is not None:
        ret["comment"] += f" (downtime {result['downtime_ms']:.0f} ms)"
    for warning in result.get("warnings") or []:
        ret["comment"] += f"; WARNING: {warning}"
    return ret


def _predict(ret, name, reference, pull, auth, force, spec):
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
        name, reference, image_id=assumed_image, force=force, **spec
    )
    if predicted["action"] == "none":
        ret["comment"] = predicted["comment"]
        return ret
    ret["result"] = None
    ret["changes"] = predicted["changes"]
    if assumed_image is not None:
        ret["changes"]["image"]["new"] = f"{reference} now {assumed_image} in the registry"
    ret["comment"] = predicted["comment"].replace("would be ", "would have to be ", 1)
    if assumed_image is not None:
        # The registry gives a manifest digest, not yet an image ID: say which it is.
        ret["comment"] = ret["comment"].replace("tag now", "registry digest now", 1)
    return ret


def absent(name, **kwargs):
    """
    Ensure no container ``name`` exists (stopped gracefully, then removed).
    """
    ret = _ret(name)
    try:
        # Read only, and the image is irrelevant here: we only ask whether the name exists.
        current = __salt__["docker_deploy.image_diff"](name, "scratch")
        if not current["exists"]:
            ret["comment"] = f"container {name!r} is already absent"
            return ret
        ret["changes"] = {"container_id": {"old": current["container_id"], "new": None}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"container {name!r} would be removed"
            return ret
        __salt__["docker_deploy.remove"](name)
        ret["comment"] = f"container {name!r} removed"
    except Exception as err:
        ret["result"] = False
        ret["changes"] = {}
        ret["comment"] = f"{err}"
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
