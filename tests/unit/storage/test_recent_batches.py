"""The newest batches' headers a segment keeps in memory must answer exactly as the file does."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.storage import Log, LogConfig
from broker.storage.segment import RECENT_BATCHES, LogSegment

from .storage_helpers import make_batch

T = TypeVar("T")

# Each append: a list of batches, each (offsets skipped before it, records in it).
appends = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=12),
    min_size=1,
    max_size=6,
)


def _follower_log(directory: str, plan: list[list[tuple[int, int]]]) -> Log:
    """A follower log (index entry every ~100 bytes) holding the batches of ``plan``, with
    offset gaps between batches as a compacted leader would send them."""
    log = Log(directory, LogConfig(index_interval_bytes=100))
    offset = 0
    for batches in plan:
        data = b""
        for skipped, records in batches:
            offset += skipped
            data += make_batch([b"v" * 30] * records, base_offset=offset)
            offset += records
        log.append_as_follower(data)
    return log


def _from_file(segment: LogSegment, ask: Callable[[], T]) -> T:
    """``ask()`` answered from the index and the file alone, without the kept headers."""
    kept, segment._recent = segment._recent, []
    try:
        return ask()
    finally:
        segment._recent = kept


def _assert_same_answers(segment: LogSegment) -> None:
    positions = [info.position for info in segment.iter_headers()]
    for start in positions:
        for offset in range(segment.base_offset, segment.next_offset + 2):
            answer = segment.translate(offset, start)
            assert answer == _from_file(segment, lambda: segment.translate(offset, start)), (
                offset,
                start,
            )
        for limit in range(start, segment.size + 1, 7):
            answer2 = segment.boundary_at_or_below(start, limit)
            assert answer2 == _from_file(
                segment, lambda: segment.boundary_at_or_below(start, limit)
            ), (start, limit)


@settings(max_examples=40, deadline=None)
@given(plan=appends)
def test_kept_headers_answer_as_the_file_does(plan: list[list[tuple[int, int]]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        log = _follower_log(str(Path(directory) / "t-0"), plan)
        segment = log.active_segment
        batches = sum(len(b) for b in plan)
        assert len(segment._recent) == min(batches, RECENT_BATCHES)
        _assert_same_answers(segment)
        log.close()


def test_truncation_forgets_the_kept_headers(tmp_path: Path) -> None:
    log = _follower_log(str(tmp_path / "t-0"), [[(0, 2)] * 6])
    log.truncate_to(6)
    segment = log.active_segment
    assert segment.translate(8) is None
    assert segment._recent == []
    log.append_as_follower(make_batch([b"x"] * 3, base_offset=6))
    assert segment._recent == list(segment.iter_headers())[-1:], "only what came since"
    _assert_same_answers(segment)
    log.close()
