"""The decisions of a fleet rollout (the ``docker_deploy.rollout`` runner), kept free of Salt
so the tests call them as they are: the arguments checked, the minions cut into a canary and
batches, the images the states declare, what each minion's ``state.apply`` did, and when the
rollout stops.

The runner (``runners/docker_deploy_mod.py``) does the talking: it asks the minions, pins
every tag to its registry digest once, applies the states batch by batch, and fires the
rollout's events.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from saltext.docker_deploy.utils import declared, follows_the_registry

# The minions' outcomes, as the report names them. `failed`, `rolled_back` and `no_answer`
# count against `max_failures`.
CHANGED, UNCHANGED, WOULD_CHANGE = "changed", "unchanged", "would_change"
FAILED, ROLLED_BACK, NO_ANSWER = "failed", "rolled_back", "no_answer"
FAILURES = (FAILED, ROLLED_BACK, NO_ANSWER)

# How Salt reads a target (`salt -C`, `-G`, ...), as its master matches them.
TARGET_TYPES = (
    "glob",
    "pcre",
    "list",
    "grain",
    "grain_pcre",
    "pillar",
    "pillar_pcre",
    "pillar_exact",
    "compound",
    "compound_pillar_exact",
    "ipcidr",
    "nodegroup",
    "range",
)

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class RolloutError(ValueError):
    """An argument the rollout cannot run with; nothing was asked of any minion."""


@dataclass(frozen=True)
class Plan:
    """How the rollout goes: the canary, then batches, each a list of minion IDs."""

    batches: list[list[str]]
    canary: int

    def label(self, index: int) -> str:
        return "canary" if index == 0 and self.canary else f"batch {index + (not self.canary)}"


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RolloutError(f"{name} must be a whole number, got {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise RolloutError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise RolloutError(f"{name} must be at least {minimum}, got {number}")
    return number


def _seconds(name: str, value: Any, minimum: float, maximum: float) -> float:
    if isinstance(value, bool):
        raise RolloutError(f"{name} must be a number of seconds, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RolloutError(f"{name} must be a number of seconds, got {value!r}") from None
    if not minimum <= number <= maximum or math.isnan(number):
        raise RolloutError(f"{name} must be between {minimum:g} and {maximum:g} s, got {value!r}")
    return number


def batch_size(batch: Any, fleet: int) -> int:
    """``batch`` as a number of minions: a count (``3``, ``"3"``) or a percentage of the
    fleet (``"50%"``, rounded up, at least one)."""
    if isinstance(batch, str) and (match := _PERCENT.match(batch)):
        percent = float(match.group(1))
        if not 0 < percent <= 100:
            raise RolloutError(f"batch must be a percentage from 0 to 100 %, got {batch!r}")
        return max(1, math.ceil(fleet * percent / 100))
    return _whole("batch (a count or a percentage like '25%')", batch, 1)


@dataclass
class Settings:
    """The runner's arguments, checked before any minion is asked."""

    tgt: str
    mods: list[str]
    tgt_type: str = "glob"
    canary: int = 1
    batch: Any = 1
    pause: float = 0.0
    timeout: float = 300.0
    max_failures: int = 0
    rollback_on_failure: bool = False
    images: list[str] | None = None
    pillar: dict = field(default_factory=dict)
    saltenv: str | None = None
    test: bool = False

    @classmethod
    def parse(cls, tgt: Any, mods: Any, **given: Any) -> Settings:
        if not isinstance(tgt, str) or not tgt.strip():
            raise RolloutError("tgt must name the minions (a target, as for `salt`)")
        if isinstance(mods, str):
            mods = [m.strip() for m in mods.split(",") if m.strip()]
        if not isinstance(mods, list) or not mods or not all(isinstance(m, str) for m in mods):
            raise RolloutError("mods must name the states to apply (`web` or `web,db`)")
        known = set(cls.__dataclass_fields__) - {"tgt", "mods"}
        unknown = sorted(set(given) - known)
        if unknown:
            raise RolloutError(
                f"unknown argument(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        settings = cls(tgt=tgt, mods=mods)
        for name, value in given.items():
            if value is not None:
                setattr(settings, name, value)
        settings.canary = _whole("canary", settings.canary, 0)
        settings.max_failures = _whole("max_failures", settings.max_failures, 0)
        settings.pause = _seconds("pause", settings.pause, 0, 86_400)
        settings.timeout = _seconds("timeout", settings.timeout, 1, 86_400)
        batch_size(settings.batch, 100)  # its form; the size depends on the fleet
        for flag in ("rollback_on_failure", "test"):
            if not isinstance(getattr(settings, flag), bool):
                raise RolloutError(f"{flag} must be True or False")
        if settings.tgt_type not in TARGET_TYPES:
            raise RolloutError(
                f"tgt_type {settings.tgt_type!r} is not one of Salt's: {', '.join(TARGET_TYPES)}"
            )
        if not isinstance(settings.pillar, dict):
            raise RolloutError("pillar must be a dict")
        images = settings.images
        if isinstance(images, str):
            images = [i.strip() for i in images.split(",") if i.strip()]
        if images is not None and not (
            isinstance(images, list) and all(isinstance(i, str) and i for i in images)
        ):
            raise RolloutError("images must be a list of image references")
        settings.images = images
        return settings

    def plan(self, minions: list[str]) -> Plan:
        """The canary first (the first ``canary`` minions), then batches of ``batch``."""
        canary = min(self.canary, len(minions))
        size = batch_size(self.batch, len(minions))
        batches = [minions[:canary]] if canary else []
        rest = minions[canary:]
        batches += [rest[i : i + size] for i in range(0, len(rest), size)]
        return Plan(batches=batches, canary=canary)


def declared_images(low_chunks: Any) -> set[str]:
    """The image references the ``docker_deploy`` states of one minion's compiled states
    (``state.show_low_sls``) declare and that follow the registry (see
    :func:`~saltext.docker_deploy.utils.follows_the_registry`); those pinned by digest in the
    reference already are left out."""
    found: set[str] = set()
    if not isinstance(low_chunks, list):
        return found
    for chunk in low_chunks:
        if not isinstance(chunk, dict) or chunk.get("state") != "docker_deploy":
            continue
        for ref, args in declared(chunk):
            if isinstance(ref, str) and "@" not in ref and follows_the_registry(args):
                found.add(ref)
    return found


def render_errors(low_chunks: Any) -> list[str]:
    """What kept one minion's states from compiling (Salt returns a list of strings)."""
    if isinstance(low_chunks, list):
        return [str(item) for item in low_chunks if isinstance(item, str)]
    if isinstance(low_chunks, str):
        return [low_chunks]
    return []


def with_digests(pillar: dict, digests: dict[str, str]) -> dict:
    """The pillar each minion applies its states with: the caller's, and the pinned digests
    under ``docker_deploy:digests`` (the state module reads them)."""
    own = dict(pillar.get("docker_deploy") or {})
    own["digests"] = {**(own.get("digests") or {}), **digests}
    return {**pillar, "docker_deploy": own}


def minion_outcome(returned: Any, test: bool = False) -> dict[str, Any]:
    """What one minion's ``state.apply`` did, from its return (``None``: it did not answer):
    the outcome, its containers (from the ``docker_deploy`` states' summaries), and for a
    failure the first failing state and why."""
    if returned is None:
        return {"outcome": NO_ANSWER, "containers": [], "reason": "did not answer"}
    ret = returned.get("ret") if isinstance(returned, dict) and "ret" in returned else returned
    if not isinstance(ret, dict):
        errors = render_errors(ret) or [str(ret)]
        return {"outcome": FAILED, "containers": [], "reason": "; ".join(errors)}
    chunks = sorted(
        (c for c in ret.values() if isinstance(c, dict)), key=lambda c: c.get("__run_num__", 0)
    )
    containers = [_compact(one) for c in chunks for one in c.get("docker_deploy") or []]
    failed = [c for c in chunks if c.get("result") is False]
    if failed:
        rolled_back = [one for one in containers if one.get("outcome") == "rolled_back"]
        first = rolled_back[0] if rolled_back else None
        if first is not None:
            failure = first.get("failure") or {}
            reason = f"{first.get('name')}: {failure.get('step')}: {failure.get('reason')}"
        else:
            state = failed[0]
            reason = f"{state.get('__id__') or state.get('name')}: {state.get('comment')}"
        outcome = ROLLED_BACK if rolled_back else FAILED
        return {"outcome": outcome, "containers": containers, "reason": reason}
    if test:
        changing = any(c.get("result") is None or c.get("changes") for c in chunks)
        return {"outcome": WOULD_CHANGE if changing else UNCHANGED, "containers": containers}
    changed = any(c.get("changes") for c in chunks)
    return {"outcome": CHANGED if changed else UNCHANGED, "containers": containers}


# What the report keeps of a container's outcome (its steps are in the minion's job return).
_KEPT = (
    "name",
    "outcome",
    "old_image_id",
    "new_image_id",
    "old_digest",
    "new_digest",
    "downtime_ms",
    "failure",
)


def _compact(outcome: Any) -> dict[str, Any]:
    return {key: outcome.get(key) for key in _KEPT} if isinstance(outcome, dict) else {}


def images_of(containers: list[dict]) -> dict[str, Any]:
    """The old and new image IDs and the longest downtime of a minion's containers (one
    container: its IDs; several: lists, in order)."""
    replaced = [c for c in containers if c.get("outcome") not in ("failed",)]
    olds = [c.get("old_image_id") for c in replaced]
    news = [c.get("new_image_id") for c in replaced]
    downtimes = [c["downtime_ms"] for c in replaced if c.get("downtime_ms") is not None]
    single = len(replaced) == 1
    return {
        "old_image_id": olds[0] if single else (olds or None),
        "new_image_id": news[0] if single else (news or None),
        "downtime_ms": max(downtimes) if downtimes else None,
    }


def to_roll_back(entry: dict) -> list[str]:
    """The containers of a minion the rollout replaced (a rollback brings back the image
    each ran before): those whose outcome was ``replaced``."""
    return [c["name"] for c in entry.get("containers") or [] if c.get("outcome") == "replaced"]
