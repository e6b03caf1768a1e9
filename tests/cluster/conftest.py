"""Cluster suite fixtures: a 3-node KRaft cluster of its own (ports, data folder) for the tests in this folder only,
started once per session when one of them asks and stopped at the end, also on failure."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest

from services.localkafka import LocalCluster
from tests.conftest import free_port
from tests.faults.conftest import long_mode

__all__ = ["cluster", "long_mode", "whole_cluster"]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three nodes (broker and controller each, 384 MiB heap each) on free loopback ports."""
    nodes = LocalCluster(
        home=tmp_path_factory.mktemp("kafka-cluster"),
        ports=tuple(free_port() for _ in range(3)),
        controller_ports=tuple(free_port() for _ in range(3)),
    )
    # SIGTERM (e.g. from `timeout` or CI) ends the session like Ctrl-C, so the teardown below still stops the nodes.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
async def whole_cluster(cluster: LocalCluster) -> LocalCluster:
    """The cluster with every node running and every partition fully replicated (a failed test may leave a node
    down)."""
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(cluster.wait_replicated)
    return cluster
