"""What the API handlers share: the broker's partitions, controller and allocators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.api.fetch_sessions import FetchSessions
from broker.config import BrokerConfig
from broker.metadata.controller import Controller
from broker.metadata.producer_ids import ProducerIdAllocator
from broker.metrics import Metrics
from broker.replication.manager import ReplicaManager
from broker.server.context import RequestContext

STATE_KEY = "broker"


@dataclass
class BrokerState:
    """The broker-wide objects handlers work on (found through ``state_of(ctx)``)."""

    config: BrokerConfig
    services: Any  # broker.server.runner.BrokerServices
    replicas: ReplicaManager
    controller: Controller
    producer_ids: ProducerIdAllocator
    metrics: Metrics
    fetch_sessions: FetchSessions = field(default_factory=FetchSessions)

    @property
    def node_id(self) -> int:
        """This broker's id."""
        return self.config.node_id


def state_of(ctx: RequestContext) -> BrokerState:
    """The broker state of the server a request arrived at."""
    return ctx.services.extras[STATE_KEY]
