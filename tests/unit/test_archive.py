"""The export file format and the import's offset translation (no services)."""

from __future__ import annotations

import json

import pytest

from projector.bulk import split
from wavestream.archive import (Entry, PartitionWriter, read_entries, read_manifest, verify, write_manifest)
from wavestream.exceptions import BackupError
from wavestream.restore import _Translator

pytestmark = pytest.mark.unit

ENTRIES = [
    Entry(0, 1700000000000, 1, b"k1", b"v1", None),
    Entry(2, 1700000000001, 1, None, b"", [("trace", b"\x00\x01"), ("empty", None), ("", b"")]),
    Entry(7, 0, 0, b"", None, None),
]


def _write(tmp_path, entries=ENTRIES) -> dict:
    writer = PartitionWriter(tmp_path / "topics" / "t.x" / "0.wsr")
    for e in entries:
        writer.append(e)
    part = {"partition": 0, "file": "topics/t.x/0.wsr", **writer.close()}
    write_manifest(tmp_path, {"topics": [{"name": "t.x", "partitions": 1, "replication_factor": 1, "config": {},
                                          "files": [part]}], "groups": {}, "read_models": None})
    return part


def test_entries_round_trip_byte_for_byte(tmp_path):
    part = _write(tmp_path)
    assert list(read_entries(tmp_path / part["file"])) == ENTRIES
    assert (part["records"], part["first_offset"], part["last_offset"]) == (3, 0, 7)
    assert verify(tmp_path, read_manifest(tmp_path)) == 3


def test_verification_names_a_changed_or_missing_file(tmp_path):
    part = _write(tmp_path)
    path = tmp_path / part["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="0.wsr differs"):
        verify(tmp_path, read_manifest(tmp_path))
    path.unlink()
    with pytest.raises(BackupError, match="0.wsr is missing"):
        verify(tmp_path, read_manifest(tmp_path))


def test_a_truncated_file_and_an_incomplete_export_are_refused(tmp_path):
    part = _write(tmp_path)
    path = tmp_path / part["file"]
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(BackupError, match="truncated"):
        list(read_entries(path))
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(BackupError, match="not a complete wavestream export"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(BackupError, match="not a wavestream-export"):
        read_manifest(tmp_path)


class _Msg:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


def test_committed_offsets_translate_to_the_first_record_at_or_after_them():
    # Source offsets 0, 1, 3, 4, 8 (2, 5-7: markers / aborted); target offsets 0..4.
    t = _Translator({0, 2, 3, 5, 9, 10})
    for new, old in enumerate([0, 1, 3, 4, 8]):
        t.delivered(None, _Msg(new), old)
    assert t.finish(new_end=5) == {0: 0, 2: 2, 3: 2, 5: 4, 9: 5, 10: 5}
    assert t.failures == []


def test_partitions_split_into_balanced_groups():
    work = {0: (0, 100), 1: (0, 90), 2: (0, 10), 3: (0, 5), 4: (0, 80)}
    groups = split(work, 2)
    assert sorted(p for g in groups for p in g) == [0, 1, 2, 3, 4]
    sizes = sorted(sum(t - s for s, t in g.values()) for g in groups)
    assert sizes == [115, 170]  # greedy: largest first, each to the lightest group
    assert split(work, 9) == [{p: work[p]} for p in (0, 1, 4, 2, 3)]


@pytest.mark.parametrize("dsn", ["postgresql://alice:s3cr%40t@db:5432/ws", "host=db user=alice password=s3cr@t dbname=ws"])
def test_pg_dump_gets_the_password_from_the_environment_not_the_command_line(dsn):
    from wavestream.backup import libpq_args

    conninfo, env = libpq_args(dsn)
    assert "s3cr" not in conninfo and "password" not in conninfo
    assert env["PGPASSWORD"] == "s3cr@t" and "dbname=ws" in conninfo and "user=alice" in conninfo
