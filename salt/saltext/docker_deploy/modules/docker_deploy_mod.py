"""Execution module ``docker_deploy``: pull, check, compare and safely redeploy containers.

A thin face over the Rust core (``saltext.docker_deploy``): arguments are cleaned of Salt's
dunder keywords, registry credentials come from the ``docker-registries`` pillar when not given,
and every core error is raised as ``CommandExecutionError`` with the core's message.

Every call that changes a container (or fails to) fires one event per container on the
master's bus (``saltext/docker_deploy/<outcome>``; see the README, "Continuous deployment"),
unless ``events=False``; a dry run and a no-op fire none. Under ``salt-call --local`` the
events go to the local bus.
"""

from __future__ import annotations

import logging

import salt.utils.event
from salt.exceptions import CommandExecutionError

try:
    from saltext import docker_deploy as core
    from saltext.docker_deploy.utils import (
        NAMES_CONFIG,
        clean_kwargs,
        error_events,
        find_auth,
        options_doc,
        result_events,
        with_auth,
    )

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


def _changing(via, subject, func, *args, **kwargs):
    """Calls a core function that may change containers, and fires the events of what it
    did (or of how it failed), unless ``events=False`` or a dry run. ``subject`` is the
    ``(name, image)`` a failure without a report is about."""
    fire = kwargs.get("events") is not False and not kwargs.get("dry_run")
    try:
        result = func(*args, **kwargs)
    except core.DeployError as err:
        if fire:
            _fire(error_events, err, __opts__.get("id"), via, *subject)
        raise CommandExecutionError(f"{type(err).__name__}: {err}") from err
    if fire:
        _fire(result_events, result, __opts__.get("id"), via)
    return result


# How long a masterless run's events wait for the minion's local bus. Salt's event.send waits
# a second per event, and where no salt-minion daemon runs (salt-call --local) nobody listens:
# a group of 20 waited 20 s for nothing (bench S3).
LOCAL_BUS_WAIT_MS = 200
_NO_LOCAL_BUS = "docker_deploy.no_local_bus"


def _fire(build, *args):
    """Builds the events (``build(*args)``) and sends each to the master (masterless: to the
    local bus). An event that cannot be built or sent is lost, never the deploy."""
    try:
        events = build(*args)
    except Exception:  # pylint: disable=broad-except
        log.exception("docker_deploy: the events of this call could not be built")
        return
    if not events:
        return
    if _masterless():
        _fire_locally(events)
        return
    for tag, data in events:
        try:
            sent = __salt__["event.send"](tag, data)
        except Exception as err:  # pylint: disable=broad-except
            sent, why = False, err
        else:
            why = "the event bus did not take it"
        if sent is False:
            log.warning("docker_deploy: event %s was not sent: %s", tag, why)


def _masterless():
    """Whether Salt's event.send would fire to the local bus (its own test)."""
    local = (
        __opts__.get("local")
        or __opts__.get("file_client") == "local"
        or __opts__.get("master_type") == "disable"
    )
    return bool(local) and not __opts__.get("use_master_when_local")


def _fire_locally(events):
    """The events on the local bus, as event.send fires them there, over one connection that
    waits ``LOCAL_BUS_WAIT_MS`` for it. A bus found missing stays missing for this process (a
    salt-call --local without a salt-minion daemon): its later events are dropped at once."""
    if __context__.get(_NO_LOCAL_BUS):
        log.debug("docker_deploy: no local event bus: %d event(s) not sent", len(events))
        return
    try:
        with salt.utils.event.get_event(
            "minion", sock_dir=__opts__["sock_dir"], opts=__opts__, listen=False
        ) as bus:
            for tag, data in events:
                if bus.fire_event(data, tag, timeout=LOCAL_BUS_WAIT_MS) is False:
                    __context__[_NO_LOCAL_BUS] = True
                    log.info(
                        "docker_deploy: no local event bus answered within %d ms (no "
                        "salt-minion daemon here?): this run's events are not sent",
                        LOCAL_BUS_WAIT_MS,
                    )
                    return
    except Exception:  # pylint: disable=broad-except
        log.warning("docker_deploy: events not sent to the local bus", exc_info=True)


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


def redeploy(name, image, **kwargs):
    """
    Pull ``image`` and, only when its image ID or the declared settings differ from the
    container ``name``, replace the container safely: the new one must prove itself (healthy,
    or running ``min_uptime`` seconds without a restart) before the old one is removed, and a
    failure brings the old one back (``RolledBack``). With ``dry_run=True``, say what would be
    done and change nothing. Settings are the keywords of Salt's ``docker_container.running``:
    ``environment``, ``port_bindings``, ``binds``, ``healthcheck``, ...

    Options:

    {options}

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.redeploy web registry.example.com/team/web:prod \\
            port_bindings='["8080:80"]' strategy=stop-first
    """
    args = with_auth(image, clean_kwargs(kwargs), __pillar__)
    return _changing("redeploy", (name, image), core.redeploy, name, image, **args)


def redeploy_group(containers, **kwargs):
    """
    Redeploy several containers at once, up to ``concurrency`` in flight, each verified and
    rolled back on its own; one failure does not stop the others. ``containers`` is a list of
    dicts with ``name``, ``image`` and any option or setting of ``redeploy``. Returns one
    ``{name, report, error, message}`` per container, in order.

    Options of the group:

    {group_options}

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.redeploy_group \\
            containers='[{name: web, image: "reg/web:prod"}, {name: api, image: "reg/api:prod"}]'
    """
    entries = [
        with_auth(entry.get("image"), dict(entry), __pillar__) if isinstance(entry, dict) else entry
        for entry in containers
    ]
    return _changing("group", (None, None), core.redeploy_group, entries, **clean_kwargs(kwargs))


def rollback(name, **kwargs):
    """
    Go back to the image that ran under ``name`` before its last redeploy (recorded on the
    container), with the same settings, through the same verified path.

    Options:

    {rollback_options}

    The next ``docker_deploy.deployed`` run moves the container forward to the tag again:
    move the tag back in the registry (or pin ``image`` by digest) to stay.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.rollback web
    """
    return _changing("rollback", (name, None), core.rollback, name, **clean_kwargs(kwargs))


def preview(name, image, image_id=None, **kwargs):
    """
    What ``redeploy`` would do: ``redeploy`` with ``dry_run=True``. ``image_id``: deploy that
    image instead of asking for the tag's.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.preview web registry.example.com/team/web:prod
    """
    args = with_auth(image, clean_kwargs(kwargs), __pillar__)
    return _call(core.preview, name, image, image_id=image_id, **args)


def remove(name, **kwargs):
    """
    Stop and remove the container ``name``, and the helper containers an interrupted redeploy
    of it left (``name.deploy-new``, ``name.deploy-old``); its volumes are kept. Takes the host
    lock of ``name``.

    Options:

    {remove_options}

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.remove web
    """
    return _changing("remove", (name, None), core.remove, name, **clean_kwargs(kwargs))


def update(image, **kwargs):
    """
    Redeploy every container on this minion that follows ``image`` (a ``repository:tag``, as
    the containers were declared with), from its record: the declaration and options of the
    run that last deployed it, through the same verified path (locked, health-gated, rolled
    back). The tag decides what is deployed: a repeated or late call finds its digest already
    running and does nothing. A minion without such a container does nothing, quickly.
    Registry credentials come from the ``docker-registries`` pillar when not given; ``names``
    (patterns of the containers it may take) from the minion's ``docker_deploy:names`` config
    when not given. Returns one ``{name, report, error, message}`` per container.

    Options:

    {update_options}

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.update registry.example.com/team/web:qa
    """
    args = with_auth(image, clean_kwargs(kwargs), __pillar__)
    if args.get("names") is None:
        args["names"] = __salt__["config.get"](NAMES_CONFIG) or None
    return _changing("update", (None, image), core.update, image, **args)


def managed(**kwargs):
    """
    The containers this tool keeps on this minion, by name: the image each follows, the
    digest and image ID it runs, its status, its replica set, whether it was adopted.

    CLI Example:

    .. code-block:: bash

        salt '*' docker_deploy.managed
    """
    return _call(core.managed)


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


if IMPORT_ERROR is None and redeploy.__doc__:  # no docstrings under python -OO
    # The option sections of the docs (`salt-call sys.doc docker_deploy`), from the table.
    for _function, _placeholder, _call_name in (
        (redeploy, "{options}", "redeploy"),
        (redeploy_group, "{group_options}", "redeploy_group"),
        (rollback, "{rollback_options}", "rollback"),
        (remove, "{remove_options}", "remove"),
        (update, "{update_options}", "update"),
    ):
        _function.__doc__ = _function.__doc__.replace(
            _placeholder, options_doc(core.OPTION_TABLE, _call_name)
        )
