"""The single exception family of the record batch codec."""

from __future__ import annotations


class RecordsError(ValueError):
    """A record batch, record or compressed block that cannot be decoded as record batch v2."""
