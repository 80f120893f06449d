"""Control batches: markers round-trip, carry the control and transactional bits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.records import RecordsError, build_batch, build_control_batch, decode_batches
from client.records.control import ControlType, parse_control_record
from unit.records.oracle import kp_read


@given(
    commit=st.booleans(),
    producer_id=st.integers(0, 2**63 - 1),
    producer_epoch=st.integers(0, 2**15 - 1),
    coordinator_epoch=st.integers(-(2**31), 2**31 - 1),
    base_offset=st.integers(0, 2**62),
    timestamp=st.integers(0, 2**45),
)
def test_control_batch_round_trip(
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int,
    timestamp: int,
) -> None:
    buf = build_control_batch(commit, producer_id, producer_epoch, coordinator_epoch,
                              base_offset, timestamp)
    [batch] = decode_batches(buf)
    assert batch.is_control and batch.is_transactional
    assert (batch.producer_id, batch.producer_epoch) == (producer_id, producer_epoch)
    assert batch.base_sequence == -1 and batch.record_count == 1
    [record] = batch.records
    assert (record.offset, record.timestamp) == (base_offset, timestamp)
    marker = parse_control_record(record)
    assert marker.type is (ControlType.COMMIT if commit else ControlType.ABORT)
    assert marker.coordinator_epoch == coordinator_epoch


@pytest.mark.parametrize("commit", [True, False])
def test_kafka_python_reads_our_markers(commit: bool) -> None:
    [batch] = kp_read(build_control_batch(commit, 9, 2, 5, base_offset=30, timestamp=1))
    assert batch["is_control"] and batch["is_transactional"]
    assert batch["records"] == [(int(ControlType.COMMIT if commit else ControlType.ABORT),
                                 not commit)]


def test_data_batches_are_not_control() -> None:
    [batch] = decode_batches(build_batch([b"x"], producer_id=1, producer_epoch=0,
                                         base_sequence=0, transactional=True))
    assert batch.is_transactional and not batch.is_control
    with pytest.raises(RecordsError):
        parse_control_record(batch.records[0])
