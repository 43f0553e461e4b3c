"""Runner ``docker_deploy``: a fleet rollout from the master, canary first, in batches, one
digest everywhere, stopping at the first failure.

.. code-block:: bash

    salt-run docker_deploy.rollout tgt='web*' mods=webapp batch=50% pause=30
    salt-run docker_deploy.rollout tgt='web*' mods=webapp test=True

Each minion applies the states as ``state.apply`` would, and verifies and rolls back on its
own (the health gate); the runner adds the fleet-level loop Salt's ``salt -b`` lacks: it stops
at the first minion whose apply fails, whose container rolled back, or that does not answer,
and every minion deploys the digest each tag had when the rollout began.
"""

from __future__ import annotations

import inspect
import logging
import time

try:
    import salt.client
    import salt.utils.event
    import salt.utils.minions

    from saltext import docker_deploy as core
    from saltext.docker_deploy import rollout as fleet
    from saltext.docker_deploy.utils import EVENT_PREFIX, clean_kwargs, find_auth

    IMPORT_ERROR = None
except ImportError as err:
    IMPORT_ERROR = err

log = logging.getLogger(__name__)

__virtualname__ = "docker_deploy"

ROLLOUT_EVENTS = "rollout"


def __virtual__():
    if IMPORT_ERROR is not None:
        return False, f"saltext.docker_deploy cannot be imported: {IMPORT_ERROR}"
    return __virtualname__


def rollout(tgt=None, mods=None, **kwargs):
    """
    Apply ``mods`` to the minions ``tgt`` targets, the canary first, then in batches, each
    batch verified before the next one starts; stop at the first failure.

    tgt
        The minions, as for ``salt`` (``tgt_type`` says how to read it).
    mods
        The states to apply, ``web`` or ``web,db`` (as for ``state.apply``).
    tgt_type: glob
        ``glob``, ``list``, ``grain``, ``pillar``, ``compound``, ...
    canary: 1
        How many minions go first, alone (their own batch).
    batch: 1
        How many minions at once after the canary: a count, or a percentage of the fleet
        (``"25%"``, rounded up).
    pause: 0
        Seconds to wait between batches.
    timeout: 300
        Seconds a minion's apply may take, from its batch's start to its return; one that
        has not returned by then counts as not answering (it may still be running: the report
        says so).
    max_failures: 0
        How many minions may fail (apply failed, container rolled back, no answer) before the
        rollout stops; the default stops at the first.
    rollback_on_failure: False
        When the rollout stops, bring the containers it replaced back to the image each ran
        before (``docker_deploy.rollback`` on each minion, verified).
    images
        The image references to pin (default: those the ``docker_deploy`` states of the
        minions declare, from ``state.show_low_sls``). Each is resolved to its registry digest
        once, before the first minion, and every minion deploys that digest; the containers
        still follow the tag.
    pillar, saltenv
        As for ``state.apply``.
    test: False
        Say which minions would change and in which batch; nothing changes anywhere.

    The registry credentials for resolving the digests come from the master's
    ``docker-registries`` option (never an argument: Salt keeps a runner's arguments in its
    job cache and on the event bus).

    Returns ``{result, comment, test, images, batches, minions, stopped, rolled_back,
    duration_s}``; ``minions`` lists, in order, each minion's ``outcome`` (``changed``,
    ``unchanged``, ``failed``, ``rolled_back``, ``no_answer``; ``would_change`` with
    ``test=True``), ``old_image_id``, ``new_image_id``, ``downtime_ms``, ``duration_s`` and
    ``containers``. Fires ``saltext/docker_deploy/rollout/{started,batch,stopped,finished}``.

    CLI Example:

    .. code-block:: bash

        salt-run docker_deploy.rollout tgt='web*' mods=webapp canary=1 batch=50% pause=10
    """
    began = time.monotonic()
    try:
        settings = fleet.Settings.parse(tgt, mods, **clean_kwargs(kwargs))
    except fleet.RolloutError as err:
        __context__["retcode"] = 1
        return {"result": False, "comment": f"nothing was applied: {err}", "stopped": None}
    result = _Rollout(settings, began).go()
    # Set either way: a runner client that runs more than one job keeps its context.
    __context__["retcode"] = 1 if result["result"] is False else 0
    return result


class _Rollout:
    """One rollout: its settings, the master's client, and the report as it grows."""

    def __init__(self, settings, began):
        self.settings, self.began = settings, began
        self.started = False
        self.client = salt.client.get_local_client(mopts=__opts__)
        # The minions that did not answer when the images were read from their states.
        self.unread = set()
        self.report = {
            "result": True,
            "comment": "",
            "test": settings.test,
            "images": {},
            "batches": [],
            "minions": [],
            "stopped": None,
            "rolled_back": [],
            "duration_s": None,
        }

    # The flow.

    def go(self):
        minions = self._targeted()
        if not minions:
            return self._end(False, f"no minion matches {self.settings.tgt!r}; nothing applied")
        plan = self.settings.plan(minions)
        self.report["batches"] = plan.batches
        refused = self._pin_images(minions)
        if refused:
            return self._end(False, f"{refused}; nothing was applied")
        if self.settings.test:
            return self._predict(plan)
        self._fire("started", {"minions": minions, "batches": plan.batches})
        self.started = True
        failures = 0
        for index, batch in enumerate(plan.batches):
            if index and self.settings.pause:
                time.sleep(self.settings.pause)
            entries = self._apply(batch, index, plan.label(index))
            self.report["minions"].extend(entries)
            failed = [e for e in entries if e["outcome"] in fleet.FAILURES]
            failures += len(failed)
            self._fire("batch", {"batch": plan.label(index), "minions": entries})
            if failures > self.settings.max_failures:
                first = failed[0]
                self.report["stopped"] = {
                    "minion": first["minion"],
                    "batch": plan.label(index),
                    "outcome": first["outcome"],
                    "reason": first.get("reason"),
                    "not_started": [m for b in plan.batches[index + 1 :] for m in b],
                    # Not answering within the timeout: what they did is not known, and a
                    # rollback is not asked of them (it could undo an earlier deploy).
                    "unknown": [
                        e["minion"]
                        for e in self.report["minions"]
                        if e["outcome"] == fleet.NO_ANSWER
                    ],
                }
                if self.settings.rollback_on_failure:
                    self._roll_back()
                self._fire("stopped", self.report["stopped"])
                return self._end(False, self._stopped_comment())
        changed = sum(e["outcome"] == fleet.CHANGED for e in self.report["minions"])
        comment = f"{len(minions)} minion(s) in {len(plan.batches)} batch(es): {changed} changed"
        if failures:
            comment += f", {failures} failed (max_failures {self.settings.max_failures})"
        return self._end(True, comment)

    def _end(self, result, comment):
        self.report["result"] = result
        self.report["comment"] = comment
        self.report["duration_s"] = round(time.monotonic() - self.began, 3)
        if self.started:
            self._fire(
                "finished",
                {k: self.report[k] for k in ("result", "comment", "stopped", "duration_s")},
            )
        return self.report

    def _stopped_comment(self):
        stopped = self.report["stopped"]
        comment = (
            f"stopped at {stopped['minion']} ({stopped['batch']}): {stopped['outcome']}: "
            f"{stopped['reason']}"
        )
        if stopped["not_started"]:
            comment += f"; not started: {', '.join(stopped['not_started'])}"
        back = self.report["rolled_back"]
        for result, said in ((True, "rolled back"), (False, "NOT rolled back")):
            done = [f"{r['minion']}:{r['name']}" for r in back if r["result"] is result]
            if done:
                comment += f"; {said}: {', '.join(done)}"
        if stopped.get("unknown"):
            comment += (
                f"; gave up waiting on {', '.join(stopped['unknown'])} (their apply may still "
                "be running: check them)"
            )
        return comment

    # Talking to the minions.

    def _targeted(self):
        # Not greedy: a minion whose grains or pillar the master's cache does not hold is not
        # taken for one that matches (the states go to a list of minions, who do not check
        # the target again). Minions that are down are in the fleet: they count as not
        # answering when their turn comes.
        ckminions = salt.utils.minions.CkMinions(__opts__)
        extra = {}
        if "fun" in inspect.signature(ckminions.check_minions).parameters:
            # Salt 3008: a function names who runs it (a minion, not the resources it manages).
            extra["fun"] = "state.apply"
        found = ckminions.check_minions(
            self.settings.tgt, self.settings.tgt_type, greedy=False, **extra
        )
        return sorted(found.get("minions") or [])

    def _state_kwarg(self, **extra):
        kwarg = {"pillar": fleet.with_digests(self.settings.pillar, self.report["images"])}
        if self.settings.saltenv:
            kwarg["saltenv"] = self.settings.saltenv
        return {**kwarg, **extra}

    def _pin_images(self, minions):
        """Resolves every image the rollout touches to its registry digest, once; returns why
        it cannot (nothing is applied then)."""
        images = self.settings.images
        if images is None:
            compiled = self._run(minions, "state.show_low_sls", [",".join(self.settings.mods)])
            images = set()
            for minion in minions:
                if minion not in compiled:
                    # Its images are unknown: it is not applied (see _apply), lest it deploy
                    # a tag that moved since.
                    self.unread.add(minion)
                    continue
                chunks = compiled[minion]["ret"]
                errors = fleet.render_errors(chunks)
                if errors:
                    return f"the states do not compile on {minion}: {'; '.join(errors)}"
                images |= fleet.declared_images(chunks)
        for image in sorted(images):
            try:
                resolved = core.resolve(image, auth=find_auth(image, None, __opts__))
            except core.DeployError as err:
                return f"cannot resolve {image} to its registry digest: {err}"
            self.report["images"][image] = resolved["digest"]
        log.info("docker_deploy.rollout: pinned %s", self.report["images"] or "no image")
        return None

    def _predict(self, plan):
        """test=True: every minion at once, as a dry run; nothing changes anywhere."""
        minions = [m for batch in plan.batches for m in batch]
        returns = self._run(minions, "state.apply", [",".join(self.settings.mods)], test=True)
        for index, batch in enumerate(plan.batches):
            for minion in batch:
                entry = fleet.minion_outcome(returns.get(minion), test=True)
                self.report["minions"].append(
                    {"minion": minion, "batch": plan.label(index), **entry}
                )
        would = [e["minion"] for e in self.report["minions"] if e["outcome"] == "would_change"]
        failed = [e["minion"] for e in self.report["minions"] if e["outcome"] in fleet.FAILURES]
        comment = f"would change: {', '.join(would) or 'none'}"
        if failed:
            comment += f"; cannot tell (the rollout would stop there): {', '.join(failed)}"
        # Salt's test mode: None when something would change, False when a real run would fail.
        return self._end(False if failed else (None if would else True), comment)

    def _apply(self, batch, index, label):
        """Applies the states to one batch; one entry per minion, in order."""
        started = time.monotonic()
        # No ping first: a minion that is not there does not return the apply either, and
        # counts as not answering once `timeout` has passed, as it would for a ping.
        asked = [m for m in batch if m not in self.unread]
        returns, answered_at = {}, {}
        if asked:
            returns = self._run(
                asked, "state.apply", [",".join(self.settings.mods)], answered_at=answered_at
            )
        entries = []
        for minion in batch:
            entry = fleet.minion_outcome(returns.get(minion))
            if minion in self.unread:
                entry["reason"] = "did not answer when the rollout read the states' images"
            elif entry["outcome"] == fleet.NO_ANSWER:
                entry["reason"] = (
                    f"did not return within {self.settings.timeout:g} s (timeout); its apply "
                    "may still be running"
                )
            entries.append(
                {
                    "minion": minion,
                    "batch": label,
                    **entry,
                    **fleet.images_of(entry["containers"]),
                    "duration_s": round(answered_at.get(minion, time.monotonic()) - started, 3),
                }
            )
        return entries

    def _run(self, minions, fun, arg, answered_at=None, **extra):
        """One job on ``minions``; {minion: its return} for those that returned within
        ``timeout`` (wall clock: Salt's own wait goes on for as long as a minion says it
        still runs the job)."""
        kwarg = self._state_kwarg(**extra) if fun.startswith("state.") else None
        deadline = time.monotonic() + self.settings.timeout
        returns = {}
        answers = self.client.cmd_iter_no_block(
            minions, fun, arg, tgt_type="list", timeout=self.settings.timeout, kwarg=kwarg
        )
        try:
            for answer in answers:
                for minion, data in (answer or {}).items():
                    if isinstance(data, dict) and "ret" in data and minion in minions:
                        returns[minion] = data
                        if answered_at is not None:
                            answered_at[minion] = time.monotonic()
                if len(returns) == len(minions) or time.monotonic() >= deadline:
                    break
                if not answer:
                    time.sleep(0.05)
        finally:
            answers.close()
        return returns

    def _roll_back(self):
        """Brings every container this rollout replaced back to the image it ran before."""
        for entry in self.report["minions"]:
            for name in fleet.to_roll_back(entry):
                answer = self._run([entry["minion"]], "docker_deploy.rollback", [name]).get(
                    entry["minion"]
                )
                ok = isinstance(answer, dict) and answer.get("retcode", 0) == 0
                back = answer.get("ret") if isinstance(answer, dict) else None
                self.report["rolled_back"].append(
                    {
                        "minion": entry["minion"],
                        "name": name,
                        "result": ok,
                        "image_id": back.get("image_id") if ok and isinstance(back, dict) else None,
                        "comment": back.get("comment") if isinstance(back, dict) else f"{back}",
                    }
                )

    def _fire(self, what, data):
        """A rollout event on the master's bus; one that cannot be sent is logged, never fatal."""
        tag = f"{EVENT_PREFIX}/{ROLLOUT_EVENTS}/{what}"
        data = {"tgt": self.settings.tgt, "mods": self.settings.mods, **data}
        bus = None
        try:
            bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)
            if bus.fire_event(data, tag) is False:
                log.warning("docker_deploy.rollout: event %s was not sent", tag)
        except Exception:  # pylint: disable=broad-except
            log.exception("docker_deploy.rollout: event %s was not sent", tag)
        finally:
            if bus is not None:
                bus.destroy()
