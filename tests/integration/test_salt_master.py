"""A real salt-master and two salt-minions on loopback apply the example state, all at once
and one minion at a time (`-b 1`). Both minions drive the local engine, so each gets its own
container name and port from its pillar."""

from __future__ import annotations

import time

import pytest

from tests.support.cluster import only_state, salt_cluster
from tests.support.testbed import inspect, wait_http

MINIONS = ("dd-m1", "dd-m2")


@pytest.fixture
def cluster(app):
    with salt_cluster(app, dict.fromkeys(MINIONS, "qa")) as salt:
        yield salt


def test_master_applies_to_two_minions_all_at_once_and_one_at_a_time(app, cluster):
    app.publish("v1", tag="qa")
    results = cluster.salt("*", "state.apply")
    for minion in MINIONS:
        state = only_state(results[minion])
        assert state["result"] is True, state["comment"]
        assert state["changes"]["container_id"]["old"] is None
        assert wait_http(cluster.ports[minion], "v1") == "v1"
    first_ids = {m: inspect(cluster.container(m))["Id"] for m in MINIONS}

    app.publish("v2", tag="qa")
    started = time.monotonic()
    batched = cluster.salt("-b", "1", "*", "state.apply")
    assert time.monotonic() - started < 170
    for minion in MINIONS:
        state = only_state(batched[minion])
        assert state["result"] is True, state["comment"]
        assert state["changes"]["container_id"]["old"] == first_ids[minion]
        assert "image" in state["changes"]
        assert wait_http(cluster.ports[minion], "v2") == "v2"

    again = cluster.salt("*", "state.apply")
    for minion in MINIONS:
        state = only_state(again[minion])
        assert state["result"] is True and state["changes"] == {}
