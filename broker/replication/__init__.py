"""Partitions this broker hosts: leadership state, high watermark, durability and waiters."""
