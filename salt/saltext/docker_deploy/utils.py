"""What the Salt execution and state modules share: argument cleaning, registry credentials,
and the option docs (rendered from the core's table, ``OPTION_TABLE``).

Kept free of Salt imports so that it works the same when the modules are loaded from the
pip-installed package or copied into a file_roots ``_modules`` / ``_states`` directory.
"""

from __future__ import annotations

from typing import Any

# The pillar key of Salt's own docker module: {registry: {username: .., password: ..}}.
PILLAR_REGISTRIES = "docker-registries"


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
