from __future__ import annotations

from array import array
from pathlib import Path

import pyarrow as pa
import pytest

from sf_assets.spark.commit_message import JobResult
from sf_assets.spark.ledger import ChainRecord, Ledger, line_digest, line_digests

_CHAIN = ChainRecord(
    jobs=(JobResult("750A", "JobComplete", 3, 3, 1, 0), JobResult("750B", "JobComplete", 1, 1, 0, 0, retry_of="750A")),
    succeeded=3,
    failed=0,
    unprocessed=0,
    errors_by_code={},
    files={"/staged/x.parquet": "failed/part-00001-750A.parquet"},
)


def test_line_digests_are_stable_64_bit_numbers() -> None:
    assert line_digest(b"a,b") == line_digest(b"a,b") != line_digest(b"a,c")
    assert 0 <= line_digest(b"x") < 2**64


def test_each_line_of_a_batch_gets_the_digest_of_its_text() -> None:
    assert list(line_digests(b"a,b\nc,d\n", 2)) == [line_digest(b"a,b"), line_digest(b"c,d")]


def test_no_lines_have_no_digests() -> None:
    assert list(line_digests(b"", 0)) == []


def test_a_line_break_inside_a_quoted_cell_stays_in_its_line() -> None:
    lines = pa.array(['"x\ny",1\n', "z,2\n"])
    assert list(line_digests(b'"x\ny",1\nz,2\n', 2, lambda: lines)) == [line_digest(b'"x\ny",1'), line_digest(b"z,2")]


def test_a_line_break_inside_a_cell_needs_the_line_array() -> None:
    with pytest.raises(ValueError, match="3 line feeds in 2 lines"):
        line_digests(b'"x\ny",1\nz,2\n', 2)


def test_a_slice_of_lines_is_cut_at_its_own_offsets() -> None:
    lines = pa.array(["skip\n", '"x\ny",1\n', "z,2\n"])[1:]
    assert list(line_digests(b'"x\ny",1\nz,2\n', 2, lambda: lines)) == [line_digest(b'"x\ny",1'), line_digest(b"z,2")]


def test_a_chain_round_trips_through_json() -> None:
    assert ChainRecord.from_json(_CHAIN.to_json()) == _CHAIN


def test_a_recorded_chain_is_loaded_with_its_digests(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path), partition_id=1)
    ledger.record(_CHAIN, array("Q", [11, 22, 22]))
    chains, sent, _pending = ledger.load()
    assert chains == [_CHAIN]
    assert sent == {11: 1, 22: 2}


def test_partitions_keep_separate_ledgers(tmp_path: Path) -> None:
    Ledger(str(tmp_path), partition_id=1).record(_CHAIN, array("Q", [1]))
    assert Ledger(str(tmp_path), partition_id=2).load() == ([], {}, [])


def test_no_half_written_entry_is_read(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path), partition_id=1)
    ledger.record(_CHAIN, array("Q", [1]))
    (Path(ledger.dir) / ".750C.tmp").write_text("{not json")
    assert len(ledger.load()[0]) == 1
