"""What the master's reactor does: deploy on a registry push (:func:`reactions`), and on the
beacon's ``update_available`` (:func:`update_available`).

The registry (``notifications.endpoints``) posts its events to Salt's ``webhook`` engine on the
master, which fires them as ``salt/engines/hook/<path>`` with the request's headers and body.
The reactor shipped in ``examples/salt/reactor/registry_push.sls`` hands them to
:func:`reactions`, which returns the reactor's jobs: ``docker_deploy.update`` of each tag that
was pushed, on the targeted minions. Nothing else starts a job:

- a request without the shared secret (``Authorization: Bearer <secret>``, compared in
  constant time; the webhook engine itself accepts anyone who reaches it);
- an event that is not a push of a manifest by tag (a blob, a pull, a push by digest);
- a master without a secret configured (every request is refused, and the log says why).

The registry delivers at least once and out of order: every delivery becomes an update of the
tag, and the tag's digest decides on each minion, so a repeated or late one does nothing.

Master configuration (``/etc/salt/master.d/docker_deploy.conf``)::

    docker_deploy:
      webhook_secret: <a long random string>   # or webhook_secret_file: /path
      target: '*'                              # the minions asked (default '*')
      tgt_type: glob
      registry: registry.example.com:5000      # how minions name the registry (default: the
                                               # host the pusher used, from the event)

Kept free of Salt imports: the reactor renders it on the master, and the tests call it as is.
"""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The master option that configures all of this.
OPTION = "docker_deploy"

# Manifests (images and indexes) as the registry names them; anything else (a layer blob,
# `application/octet-stream`) is no image pushed.
MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
}

# The longest body read: a notification carries a few events, each well under a KiB.
MAX_BODY = 1 << 20


def update_available(data: dict) -> dict[str, Any]:
    """The reactor's job for the ``docker_deploy`` beacon's ``update_available`` event: the
    update of that reference on the minion that saw it (``data["id"]``)."""
    minion, image = data.get("id"), data.get("image")
    if not (isinstance(minion, str) and minion and isinstance(image, str) and image):
        return {}
    return {
        "docker_deploy_update": {
            "local.docker_deploy.update": [
                {"tgt": minion},
                {"tgt_type": "list"},
                {"args": [{"image": image}]},
            ]
        }
    }


def reactions(data: dict, opts: dict) -> dict[str, Any]:
    """The reactor's jobs for one webhook event (``data`` as the webhook engine fired it)."""
    config = opts.get(OPTION) or {}
    secret = _secret(config)
    if not secret:
        log.error(
            "docker_deploy: registry notification refused: no %s:webhook_secret is configured",
            OPTION,
        )
        return {}
    if not _authorized(data.get("headers") or {}, secret):
        log.warning("docker_deploy: registry notification refused: wrong or missing secret")
        return {}
    images = pushed_images(data.get("body"), config.get("registry"))
    if not images:
        return {}
    target = config.get("target", "*")
    tgt_type = config.get("tgt_type", "glob")
    jobs = {}
    for index, image in enumerate(images):
        log.info("docker_deploy: %s was pushed; updating it on %s", image, target)
        jobs[f"docker_deploy_update_{index}"] = {
            "local.docker_deploy.update": [
                {"tgt": target},
                {"tgt_type": tgt_type},
                {"args": [{"image": image}]},
            ]
        }
    return jobs


def _secret(config: dict) -> str | None:
    secret = config.get("webhook_secret")
    path = config.get("webhook_secret_file")
    if not secret and path:
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as err:
            log.error("docker_deploy: webhook_secret_file %s cannot be read: %s", path, err)
            return None
    return str(secret) if secret else None


def _authorized(headers: dict, secret: str) -> bool:
    given = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization"), "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), secret.encode())


def pushed_images(body: Any, registry: str | None = None) -> list[str]:
    """The ``registry/repository:tag`` of each manifest pushed by tag in a notification's
    body (``{"events": [...]}``), each once, in order."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[:MAX_BODY]).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body[:MAX_BODY])
        except ValueError:
            log.warning("docker_deploy: registry notification refused: its body is not JSON")
            return []
    events = body.get("events") if isinstance(body, dict) else None
    images: list[str] = []
    for event in events if isinstance(events, list) else []:
        image = _pushed_image(event, registry)
        if image and image not in images:
            images.append(image)
    return images


def _pushed_image(event: Any, registry: str | None) -> str | None:
    if not isinstance(event, dict) or event.get("action") != "push":
        return None
    target = event.get("target") or {}
    request = event.get("request") or {}
    if not isinstance(target, dict) or target.get("mediaType") not in MANIFEST_TYPES:
        return None
    repository, tag = target.get("repository"), target.get("tag")
    host = registry or (request.get("host") if isinstance(request, dict) else None)
    if not all(isinstance(x, str) and x for x in (repository, tag, host)):
        return None  # pushed by digest (no tag), or no registry to name
    if any(c.isspace() for c in f"{host}{repository}{tag}"):
        return None
    return f"{host}/{repository}:{tag}"
