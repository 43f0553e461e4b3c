"""Beacon ``docker_deploy``: tells the master when a tag that a container here follows has a
new image in the registry, once per new digest.

.. code-block:: yaml

    # /etc/salt/minion.d/beacons.conf
    beacons:
      docker_deploy:
        - interval: 60          # seconds between two looks (Salt's own beacon option)
        - images:               # optional: only these references, as the containers record
          - registry.example.com/team/web:prod   # them (registry/path:tag)

At each interval: the running containers this tool keeps here (one Engine listing; only those
whose names match the minion's ``docker_deploy:names`` patterns, when set), then one request
to the registry per distinct image reference they follow (a HEAD of the tag's manifest, no
layers), a few at a time. A reference whose digest is not the one a container runs fires
``salt/beacon/<minion>/docker_deploy/update_available`` with the reference, the new digest and
the names of the containers that would change, once per new digest: the next interval without
a push fires nothing. A registry that limits the rate (429) is asked for none of its tags
before its ``Retry-After`` (or a pause that doubles); a reference that fails is asked again
after a pause that doubles from 30 s up to an hour. Credentials come from the
``docker-registries`` pillar, as for the execution module. Nothing is changed: a reactor decides
what to do (see the README, "Continuous deployment").

What it remembers (the digests announced, the pauses) lives as long as the module is loaded:
after a minion restart or a module sync, a pending new digest is announced once more.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from saltext import docker_deploy as core
    from saltext.docker_deploy.utils import NAMES_CONFIG, find_auth, registry_of

    IMPORT_ERROR = None
except ImportError as err:
    IMPORT_ERROR = err

log = logging.getLogger(__name__)

__virtualname__ = "docker_deploy"

# The pause after a first failure; each failure in a row doubles it, up to an hour.
FIRST_BACKOFF_S = 30.0
MAX_BACKOFF_S = 3600.0
# Registries asked at once (each question releases the GIL; the minion's loop waits for all).
CHECKS_AT_ONCE = 4

# What the beacon remembers between intervals, per beacon name: the digest announced per
# reference, and the references and registries not to ask before a time.
_MEMORY: dict[str, dict] = {}


def __virtual__():
    if IMPORT_ERROR is not None:
        return False, f"saltext.docker_deploy cannot be imported: {IMPORT_ERROR}"
    return __virtualname__


def _settings(config) -> dict:
    merged = {}
    for item in config or []:
        if isinstance(item, dict):
            merged.update(item)
    return merged


def validate(config):
    """A list of dicts; ``images``, when given, a list of image references."""
    if not isinstance(config, list):
        return False, "docker_deploy beacon: the configuration must be a list"
    images = _settings(config).get("images")
    if images is not None and (
        not isinstance(images, list) or not all(isinstance(i, str) for i in images)
    ):
        return False, "docker_deploy beacon: images must be a list of image references"
    return True, "valid"


def beacon(config):
    settings = _settings(config)
    memory = _MEMORY.setdefault(
        settings.get("_beacon_name", __virtualname__),
        {"announced": {}, "paused": {}},
    )
    wanted = settings.get("images")
    try:
        containers = core.managed(names=_names())
    except core.DeployError as err:
        log.warning("docker_deploy beacon: the containers could not be listed: %s", err)
        return []
    following: dict[str, list[dict]] = {}
    for container in containers:
        # A stopped container was stopped by someone: no update is proposed for it.
        if container["status"] != "running":
            continue
        if wanted is None or container["image"] in wanted:
            following.setdefault(container["image"], []).append(container)
    now = time.monotonic()
    asked = [image for image in sorted(following) if not _paused(memory, image, now)]
    pillar = globals().get("__pillar__") or {}
    with ThreadPoolExecutor(max_workers=CHECKS_AT_ONCE) as pool:
        answers = list(pool.map(lambda image: _check(image, pillar), asked))
    events = []
    for image, (checked, err) in zip(asked, answers, strict=True):
        if err is not None:
            _pause(memory, image, err, now)
            continue
        memory["paused"].pop(image, None)
        remote = checked["remote_digest"]
        stale = sorted(c["name"] for c in following[image] if not _runs(c, checked))
        if not stale:
            memory["announced"].pop(image, None)
            continue
        if memory["announced"].get(image) == remote:
            continue  # announced already: once per new digest
        memory["announced"][image] = remote
        events.append(
            {
                "tag": "update_available",
                "image": image,
                "digest": remote,
                "containers": stale,
                "running": sorted({_digest_of(c) or c["image_id"] for c in following[image]}),
            }
        )
    # Forget what no container here follows any more.
    for kept in (memory["announced"], memory["paused"]):
        for key in set(kept) - set(following) - {registry_of(i) for i in following}:
            kept.pop(key, None)
    return events


def _names() -> list[str] | None:
    """The minion's ``docker_deploy:names`` patterns, when set."""
    get = (globals().get("__salt__") or {}).get("config.get")
    return (get(NAMES_CONFIG) if get else None) or None


def _check(image, pillar):
    """``(the registry's answer, None)`` or ``(None, the error)``."""
    try:
        return core.check(image, auth=find_auth(image, None, pillar)), None
    except core.DeployError as err:
        return None, err


def _paused(memory, image, now) -> bool:
    """Whether ``image``, or its registry (a rate limit), is not to be asked yet."""
    return any(
        memory["paused"].get(key, {}).get("until", 0.0) > now for key in (image, registry_of(image))
    )


def _pause(memory, image, err, now) -> None:
    """After a failure: a rate limit pauses the whole registry (its ``Retry-After``, else a
    doubling pause); any other failure, this reference, for a doubling pause."""
    key = registry_of(image) if getattr(err, "rate_limited", False) else image
    if memory["paused"].get(key, {}).get("until", 0.0) > now:
        return  # another tag of the registry paused it in this round already
    failures = memory["paused"].get(key, {}).get("failures", 0) + 1
    doubling = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (failures - 1))
    pause = getattr(err, "retry_after", None) or doubling
    memory["paused"][key] = {"until": now + pause, "failures": failures}
    log.warning("docker_deploy beacon: %s: %s; not asked again for %.0f s", key, err, pause)


def _digest_of(container) -> str | None:
    recorded = container.get("digest")
    return recorded.rsplit("@", 1)[-1] if recorded else None


def _runs(container, checked) -> bool:
    """Whether the container runs the registry's image: by the digest it records, else (it
    records none: a rollback, `pull: False`) by the local tag, when that is the registry's."""
    recorded = _digest_of(container)
    if recorded is not None:
        return recorded == checked["remote_digest"]
    return not checked["update_available"] and checked["local_id"] == container["image_id"]
