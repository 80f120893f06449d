"""Partition assignors by the protocol names every Kafka client uses.

``range`` and ``roundrobin`` are eager; ``cooperative-sticky`` supports the cooperative
protocol. A consumer rebalances cooperatively only when every assignor it offers supports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from client.consumer.assignors.base import Assignor, GroupMember, RebalanceProtocol
from client.consumer.assignors.range import RangeAssignor
from client.consumer.assignors.roundrobin import RoundRobinAssignor
from client.consumer.assignors.sticky import CooperativeStickyAssignor

__all__ = [
    "ASSIGNORS",
    "Assignor",
    "CooperativeStickyAssignor",
    "GroupMember",
    "RangeAssignor",
    "RebalanceProtocol",
    "RoundRobinAssignor",
    "rebalance_protocol",
    "resolve_assignors",
]

ASSIGNORS: dict[str, type[Assignor]] = {
    cls.name: cls for cls in (RangeAssignor, RoundRobinAssignor, CooperativeStickyAssignor)
}


def resolve_assignors(strategy: str | Assignor | type[Assignor] | Iterable) -> list[Assignor]:
    """Assignor instances from names (``"range"``), Assignor classes or instances, or a
    sequence of those (a comma-separated string works too), in order of preference."""
    if isinstance(strategy, (str, Assignor)) or isinstance(strategy, type):
        items: list = [strategy]
    else:
        items = list(strategy)
    result: list[Assignor] = []
    for item in items:
        if isinstance(item, str):
            for name in (n.strip() for n in item.split(",")):
                if name not in ASSIGNORS:
                    raise ValueError(
                        f"unknown partition assignment strategy {name!r}; "
                        f"known: {', '.join(ASSIGNORS)}"
                    )
                result.append(ASSIGNORS[name]())
        elif isinstance(item, Assignor):
            result.append(item)
        elif isinstance(item, type) and issubclass(item, Assignor):
            result.append(item())
        else:
            raise TypeError(f"not a partition assignor: {item!r}")
    if not result:
        raise ValueError("partition_assignment_strategy names no assignor")
    names = [a.name for a in result]
    if len(set(names)) != len(names):
        raise ValueError(f"partition_assignment_strategy repeats a name: {names}")
    return result


def rebalance_protocol(assignors: Iterable[Assignor]) -> RebalanceProtocol:
    """COOPERATIVE when every assignor supports it, else EAGER."""
    if all(RebalanceProtocol.COOPERATIVE in a.protocols for a in assignors):
        return RebalanceProtocol.COOPERATIVE
    return RebalanceProtocol.EAGER
