"""API version negotiation: the highest version of each API that both sides speak."""

from __future__ import annotations

from collections.abc import Mapping

from client.protocol import SUPPORTED_VERSIONS, ApiKey

__all__ = ["negotiate"]


def negotiate(broker_ranges: Mapping[int, tuple[int, int]]) -> dict[ApiKey, int]:
    """Map each API in both our SUPPORTED_VERSIONS and the broker's ``{api_key: (min, max)}``
    to the highest version in both ranges; APIs whose ranges do not overlap are left out."""
    chosen: dict[ApiKey, int] = {}
    for api_key, (our_low, our_high) in SUPPORTED_VERSIONS.items():
        theirs = broker_ranges.get(api_key)
        if theirs is None:
            continue
        high = min(our_high, theirs[1])
        if high >= max(our_low, theirs[0]):
            chosen[api_key] = high
    return chosen
