"""Producer ids for idempotent producers, unique across restarts (and brokers).

Ids are taken from the metadata store in blocks: the key ``producer-ids`` holds the first id
no broker has taken yet, advanced by compare-and-set, so a broker hands out ids from its block
without touching the store for each InitProducerId.
"""

from __future__ import annotations

from broker.metadata.store import MetadataStore

PRODUCER_IDS_KEY = "producer-ids"
BLOCK_SIZE = 1000


class ProducerIdAllocator:
    """Hands out producer ids from blocks reserved in the metadata store."""

    def __init__(self, store: MetadataStore, block_size: int = BLOCK_SIZE) -> None:
        self.store = store
        self.block_size = block_size
        self._next = 0
        self._end = 0

    async def allocate(self) -> int:
        """A producer id never handed out before."""
        if self._next >= self._end:
            await self._reserve_block()
        producer_id = self._next
        self._next += 1
        return producer_id

    async def _reserve_block(self) -> None:
        while True:
            current = await self.store.get(PRODUCER_IDS_KEY)
            start = int(current.value["next"]) if current else 0
            version = current.version if current else 0
            end = start + self.block_size
            if await self.store.compare_and_set(PRODUCER_IDS_KEY, version, {"next": end}):
                self._next, self._end = start, end
                return
