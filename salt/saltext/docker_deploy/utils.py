"""What the Salt execution and state modules share: argument cleaning, registry credentials,
and the option docs (rendered from the core's table, ``OPTION_TABLE``).

Kept free of Salt imports so that it works the same when the modules are loaded from the
pip-installed package or copied into a file_roots ``_modules`` / ``_states`` directory.
"""

from __future__ import annotations

from typing import Any

# The pillar key of Salt's own docker module: {registry: {username: .., password: ..}}.
PILLAR_REGISTRIES = "docker-registries"
# The minion's (config or pillar) patterns of the containers `update` and the beacon take:
# where minions share an Engine, or where only some containers follow pushes.
NAMES_CONFIG = "docker_deploy:names"


def clean_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drops what Salt adds to every call (``__pub_*``, ``__env__``, ...), keeps what the user
    declared; the core rejects anything else by name."""
    return {k: v for k, v in kwargs.items() if not k.startswith("__")}


def registry_of(image: str) -> str:
    """The registry host of an image reference, with the Docker CLI's rule (a first component
    with '.' or ':' or 'localhost' is a host); Docker Hub otherwise."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def find_auth(image: str, auth: dict | None, pillar: dict | None) -> dict | None:
    """Credentials for `image`: the state's own `auth` argument, else the pillar entry of its
    registry (also matched with an http(s):// prefix or a trailing slash, as people write)."""
    if auth:
        return dict(auth)
    registries = (pillar or {}).get(PILLAR_REGISTRIES) or {}
    wanted = registry_of(image)
    hub = {"docker.io", "index.docker.io", "registry-1.docker.io"}
    for key, creds in registries.items():
        host = str(key).split("://", 1)[-1].split("/", 1)[0]
        if host == wanted or (wanted == "docker.io" and host in hub):
            return {k: v for k, v in dict(creds).items() if k in ("username", "password")}
    return None


def with_auth(image: Any, args: dict[str, Any], pillar: dict | None) -> dict[str, Any]:
    """`args` with the registry credentials of `image` from the pillar, when the call may pull
    and gives none of its own."""
    if args.get("pull", True) is False or args.get("auth") or not isinstance(image, str):
        return args
    return {**args, "auth": find_auth(image, None, pillar)}


# Events: every outcome that changed something (or failed to) goes on Salt's event bus, tag
# `saltext/docker_deploy/<outcome>`. Built from the core's reports, field by field: a report
# never holds a credential or an `environment` value, and an event takes only what is named.
EVENT_PREFIX = "saltext/docker_deploy"

# Where a fleet rollout (the runner) hands every minion the digests it pinned: the pillar
# `docker_deploy:digests`, {image reference as declared: "sha256:..."}.
PINNED_PILLAR = ("docker_deploy", "digests")


def image_reference(image: Any, tag: Any) -> Any:
    """The reference a ``deployed`` state (or a group entry) deploys: ``tag`` appended when
    given."""
    return f"{image}:{tag}" if isinstance(image, str) and tag not in (None, "") else image


def follows_the_registry(args: dict[str, Any]) -> bool:
    """Whether a declaration asks the registry for its tag on every run: a pinned digest is
    for those only. With ``pull: False`` / ``never`` (a local image) it could not be pulled;
    with ``missing`` the next ordinary run would deploy the local tag, which a pull by digest
    leaves behind: a downgrade."""
    return args.get("pull", True) is not False and args.get("pull_policy") not in (
        "never",
        "missing",
    )


def declared(chunk: Any) -> list[tuple[Any, dict[str, Any]]]:
    """The ``(reference, arguments)`` of each container a ``docker_deploy`` state declares:
    one for ``deployed``; for ``group``, each entry with the group's own settings as its
    defaults, as the state merges them."""
    if not isinstance(chunk, dict):
        return []
    if chunk.get("fun") == "deployed":
        return [(image_reference(chunk.get("image"), chunk.get("tag")), chunk)]
    if chunk.get("fun") != "group":
        return []
    defaults = {k: v for k, v in chunk.items() if k not in ("name", "containers")}
    found = []
    for entry in chunk.get("containers") or []:
        if isinstance(entry, dict):
            merged = {**defaults, **entry}
            found.append((image_reference(merged.get("image"), merged.get("tag")), merged))
    return found


def with_pinned_digest(reference: Any, args: dict[str, Any], pillar: dict | None) -> dict:
    """``args`` with the digest a fleet rollout pinned for ``reference`` (the pillar
    ``docker_deploy:digests``), unless the declaration gives its own or does not follow the
    registry."""
    own = (pillar or {}).get(PINNED_PILLAR[0])
    digests = own.get(PINNED_PILLAR[1]) if isinstance(own, dict) else None
    if (
        not isinstance(digests, dict)
        or reference not in digests
        or args.get("digest") is not None
        or not follows_the_registry(args)
    ):
        return args
    return {**args, "digest": digests[reference]}


# A report's action, as the outcome its event is tagged with; `none` fires nothing.
_OUTCOMES = {
    "created": "created",
    "replaced": "replaced",
    "started": "started",
    "adopted": "adopted",
    "recovered": "recovered",
    "rolled-back": "rolled_back",
    "failed": "failed",
}

# Errors that change nothing and say so before any Docker call: no event.
_QUIET_ERRORS = {"InvalidSpec"}


def _step(step: dict) -> dict:
    return {
        "step": step.get("step"),
        "detail": step.get("detail"),
        "duration_ms": step.get("duration_ms"),
    }


def report_event(report: dict, minion: str, via: str) -> tuple[str, dict] | None:
    """The event of one container's redeploy report, or ``None`` when it did nothing (a no-op,
    a dry run)."""
    outcome = _OUTCOMES.get(report.get("action"))
    if outcome is None or report.get("dry_run"):
        return None
    data = {
        "minion": minion,
        "via": via,
        "outcome": outcome,
        "name": report.get("name"),
        "image": report.get("image"),
        "container_id": report.get("container_id"),
        "old_image_id": report.get("previous_image_id"),
        "new_image_id": report.get("image_id"),
        "old_digest": report.get("previous_digest"),
        "new_digest": report.get("digest"),
        "strategy": report.get("strategy"),
        "downtime_ms": report.get("downtime_ms"),
        "steps": [_step(step) for step in report.get("steps") or []],
        "recovered": report.get("recovered"),
        "failure": report.get("failure"),
        "comment": report.get("comment"),
    }
    return f"{EVENT_PREFIX}/{outcome}", data


def result_events(result, minion: str, via: str) -> list[tuple[str, dict]]:
    """The events of what a call returned: one report, a replica set's (one per replica), or
    a list of group entries (one per entry that did something or failed)."""
    if isinstance(result, list):
        events = []
        for entry in result:
            report = entry.get("report") or entry.get("error_report")
            if report is not None:
                events.extend(result_events(report, minion, via))
            elif entry.get("error") not in (None, *_QUIET_ERRORS):
                events.append(_failed(minion, via, entry.get("name"), None, entry))
        return events
    if not isinstance(result, dict) or result.get("dry_run"):
        return []
    if "results" in result:  # replicas
        return [e for r in result["results"] for e in result_events(r, minion, via)]
    if "removed" in result and "helpers_removed" in result:  # a removal
        if not (result["removed"] or result["helpers_removed"]):
            return []
        data = {
            "minion": minion,
            "via": via,
            "outcome": "removed",
            "name": result.get("name"),
            "container_id": result.get("container_id"),
            "old_image_id": result.get("image_id"),
            "helpers_removed": result.get("helpers_removed"),
        }
        return [(f"{EVENT_PREFIX}/removed", data)]
    event = report_event(result, minion, via)
    return [event] if event else []


def error_events(
    err: Exception, minion: str, via: str, name: str | None, image: str | None
) -> list[tuple[str, dict]]:
    """The events of a call that raised: from the failed run's report when the error carries
    one (``RolledBack``, a failed first start), else one ``failed`` event with the message."""
    kind = type(err).__name__
    if kind in _QUIET_ERRORS:
        return []
    report = getattr(err, "report", None)
    if isinstance(report, dict):
        events = result_events(report, minion, via)
        if events:
            return events
    entry = {"error": kind, "message": str(err)}
    return [_failed(minion, via, name, image, entry)]


def _failed(minion, via, name, image, entry) -> tuple[str, dict]:
    data = {
        "minion": minion,
        "via": via,
        "outcome": "failed",
        "name": name,
        "image": image,
        "error": entry.get("error"),
        "failure": {"step": None, "reason": entry.get("message")},
    }
    return f"{EVENT_PREFIX}/failed", data


def options_doc(table: list[dict[str, Any]], call: str, indent: str = "    ") -> str:
    """The options `call` takes (a name of the table's ``calls``), as a docstring section to
    put where a placeholder stands at `indent`: each name, then its doc and default."""
    lines = []
    for row in table:
        if call in row["calls"]:
            lines.append(row["name"])
            lines.append(f"    {row['doc']} (default: {row['default']!r}).")
    return f"\n{indent}".join(lines)


def options_markdown(table: list[dict[str, Any]]) -> str:
    """The README's table of options, from the core's table (a test keeps them equal)."""
    lines = ["| option | default | taken by | meaning |", "| --- | --- | --- | --- |"]
    for row in table:
        calls = ", ".join(f"`{call}`" for call in row["calls"])
        lines.append(f"| `{row['name']}` | `{row['default']!r}` | {calls} | {row['doc']} |")
    return "\n".join(lines)


def keywords_markdown(table: list[dict[str, Any]]) -> str:
    """The README's table of spec keywords, from the core's table (a test keeps them equal)."""
    lines = [
        "| keyword | aliases | accepts | lands in | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in table:
        aliases = ", ".join(f"`{alias}`" for alias in row["aliases"])
        lines.append(
            f"| `{row['name']}` | {aliases} | {row['accepts']} | {row['lands']} | {row['doc']} |"
        )
    return "\n".join(lines)
