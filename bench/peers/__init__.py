"""Other systems measured in the same run: Redis Streams and NATS JetStream.

Each peer runs as a server process of its own on a free loopback port with a temporary data
directory, started and stopped by the suite (:mod:`bench.peers.servers`), and is driven by the
same pipelined sender as Rillet's raw generator (:mod:`bench.pipeline`) with requests encoded
once in the peer's own wire protocol.
"""
