"""Execution module ``docker_deploy``: pull, check, compare and safely redeploy containers.

A thin face over the Rust core (``saltext.docker_deploy``): arguments are cleaned of Salt's
dunder keywords, registry credentials come from the ``docker-registries`` pillar when not given,
and every core error is raised as ``CommandExecutionError`` with the core's message.
"""

from __future__ import annotations

import logging

from salt.exceptions import CommandExecutionError

try:
    from saltext import docker_deploy as core
    from saltext.docker_deploy.utils import clean_kwargs, find_auth

    IMPORT_ERROR = None
except ImportError as err:  # the native module is missing or built for another platform
    IMPORT_ERROR = err

log = logging.getLogger(__name__)

__virtualname__ = "docker_deploy"


def __virtual__():
    # No Docker call here: the minion loads modules in its parent process (see the fork note
    # in the README), and a missing engine must not hide the module.
    if IMPORT_ERROR is not None:
        return False, f"saltext.docker_deploy cannot be imported: {IMPORT_ERROR}"
    return __virtualname__


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except core.DeployError as err:
        raise CommandExecutionError(f"{type(err).__name__}: {err}") from err


def _auth(image, auth):
    return find_auth(image, auth, __pillar__)


# Every function takes **kwargs: Salt passes __pub_* keywords to execution functions.


def pull(image, auth=None, **kwargs):
    """
    Pull ``image`` and report, by image ID, whether the local tag moved.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.pull registry.example.com/team/web:prod
    """
    return _call(core.pull, image, auth=_auth(image, auth))


def check(image, auth=None, **kwargs):
    """
    Ask the registry, without pulling, whether a pull would change the local tag
    (``update_available``, ``local_digest``, ``remote_digest``; ``via`` says whether the
    registry answered directly or through the Docker Engine).

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.check registry.example.com/team/web:prod
    """
    return _call(core.check, image, auth=_auth(image, auth))


def image_diff(name, image, **kwargs):
    """
    Compare the container ``name`` with the local tag of ``image``. Read only.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.image_diff web registry.example.com/team/web:prod
    """
    return _call(core.image_diff, name, image)


def redeploy(name, image, pull=True, force=False, auth=None, **kwargs):
    """
    Pull ``image`` and, only when its image ID or the declared settings differ from the
    container ``name``, replace the container safely: the new one must prove itself (healthy,
    or running ``min_uptime`` seconds without a restart) before the old one is removed, and a
    failure brings the old one back (``RolledBack``).

    Options: ``pull_policy`` (``if-changed``: ask the registry first, pull only when the
    digest moved; ``always``; ``missing``; ``never``), ``strategy`` (``create-first``,
    ``stop-first``, ``start-first``),
    ``health_timeout`` (60), ``min_uptime`` (2), ``rollback`` (True), ``lock_timeout`` (300),
    ``keep_images`` (keep the newest N images of the repository), ``replicas`` (manage
    ``name-1`` .. ``name-N``, one at a time), ``renew_anonymous_volumes`` (fresh anonymous
    volumes instead of the previous container's), ``pull_timeout`` (600). Settings are the
    keywords of Salt's ``docker_container.running``: ``environment``, ``port_bindings``, ``binds``,
    ``healthcheck``, ...

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.redeploy web registry.example.com/team/web:prod \\
            port_bindings='["8080:80"]' strategy=stop-first
    """
    return _call(
        core.redeploy,
        name,
        image,
        pull=pull,
        force=force,
        auth=_auth(image, auth) if pull else None,
        **clean_kwargs(kwargs),
    )


def redeploy_group(containers, concurrency=4, **kwargs):
    """
    Redeploy several containers at once, up to ``concurrency`` in flight, each verified and
    rolled back on its own; one failure does not stop the others. ``containers`` is a list of
    dicts with ``name``, ``image`` and any option or setting of ``redeploy``. Returns one
    ``{name, report, error, message}`` per container, in order.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.redeploy_group \\
            containers='[{name: web, image: "reg/web:prod"}, {name: api, image: "reg/api:prod"}]'
    """
    entries = []
    for entry in containers:
        entry = dict(entry)
        if entry.get("pull", True) is not False and not entry.get("auth"):
            entry["auth"] = _auth(entry.get("image", ""), None)
        entries.append(entry)
    return _call(core.redeploy_group, entries, concurrency=concurrency)


def rollback(name, **kwargs):
    """
    Go back to the image that ran under ``name`` before its last redeploy (recorded on the
    container), with the same settings, through the same verified path. Options:
    ``strategy``, ``health_timeout``, ``min_uptime``, ``lock_timeout``.

    The next ``docker_deploy.deployed`` run moves the container forward to the tag again:
    move the tag back in the registry (or pin ``image`` by digest) to stay.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.rollback web
    """
    return _call(core.rollback, name, **clean_kwargs(kwargs))


def preview(name, image, image_id=None, force=False, **kwargs):
    """
    What ``redeploy`` would do, read only. ``image_id`` is the image the tag is about to
    point at (for example the ``remote_digest`` of ``check``).

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.preview web registry.example.com/team/web:prod
    """
    return _call(core.preview, name, image, image_id=image_id, force=force, **clean_kwargs(kwargs))


def remove(name, lock_timeout=300, **kwargs):
    """
    Stop and remove the container ``name``, and the helper containers an interrupted redeploy
    of it left (``name.deploy-new``, ``name.deploy-old``); its volumes are kept. Takes the host
    lock of ``name`` (waiting up to ``lock_timeout`` seconds for a redeploy of it).

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.remove web
    """
    return _call(core.remove, name, lock_timeout=lock_timeout)


def status(name, image, auth=None, **kwargs):
    """
    What runs under ``name``, on which image ID, and whether the tag has moved locally
    (``local_tag_moved``) and in the registry (``registry_tag_moved``).

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.status web registry.example.com/team/web:prod
    """
    diff = _call(core.image_diff, name, image)
    result = {
        "name": name,
        "image": diff["image"],
        "exists": diff["exists"],
        "status": diff["status"],
        "container_id": diff["container_id"],
        "container_image_id": diff["container_image_id"],
        "local_image_id": diff["image_id"],
        "local_tag_moved": diff["exists"] and diff["differs"],
        "registry_tag_moved": None,
        "registry_error": None,
    }
    try:
        remote = core.check(image, auth=_auth(image, auth))
        result["registry_tag_moved"] = remote["update_available"]
        result["remote_digest"] = remote["remote_digest"]
    except core.DeployError as err:
        result["registry_error"] = f"{type(err).__name__}: {err}"
    return result
