"""Migration file discovery, ordering and validation (no database)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from wavestream.exceptions import DatabaseError, MigrationError
from wavestream.migrations import SQL_DIR, discover

pytestmark = pytest.mark.unit


def _write(directory: Path, name: str, body: str = "SELECT 1;\n") -> Path:
    path = directory / name
    path.write_text(body)
    return path


def test_orders_by_number_not_by_text(tmp_path: Path) -> None:
    _write(tmp_path, "010_ten.sql")
    _write(tmp_path, "002_two.sql")
    _write(tmp_path, "1000_thousand.sql")
    _write(tmp_path, "001_one.sql")

    found = discover(tmp_path)

    assert [m.version for m in found] == [1, 2, 10, 1000]
    assert [m.name for m in found] == ["001_one", "002_two", "010_ten", "1000_thousand"]


def test_ignores_files_that_are_not_sql(tmp_path: Path) -> None:
    _write(tmp_path, "001_one.sql")
    _write(tmp_path, "README.md", "# notes")
    _write(tmp_path, "002_draft.sql.bak")
    (tmp_path / "003_subdir.sql").mkdir()

    assert [m.name for m in discover(tmp_path)] == ["001_one"]


def test_empty_directory_has_no_migrations(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


def test_checksum_is_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    body = "CREATE TABLE t (x int);\n-- 100% sure\n"
    path = _write(tmp_path, "001_t.sql", body)

    (migration,) = discover(tmp_path)

    assert migration.checksum == hashlib.sha256(body.encode()).hexdigest()
    assert migration.path == path
    assert migration.sql() == body


def test_checksum_changes_with_content(tmp_path: Path) -> None:
    path = _write(tmp_path, "001_t.sql", "SELECT 1;\n")
    before = discover(tmp_path)[0].checksum
    path.write_text("SELECT 2;\n")

    assert discover(tmp_path)[0].checksum != before


@pytest.mark.parametrize(
    "name",
    [
        "1_short_number.sql",
        "01_short_number.sql",
        "001-dash.sql",
        "001_.sql",
        "001.sql",
        "abc_name.sql",
        "001_Upper.sql",
        "001_has space.sql",
        "001__double.sql",
        "001_trailing_.sql",
    ],
)
def test_bad_file_name_is_rejected(tmp_path: Path, name: str) -> None:
    _write(tmp_path, "002_fine.sql")
    _write(tmp_path, name)

    with pytest.raises(MigrationError, match="bad migration file name"):
        discover(tmp_path)


def test_duplicate_number_is_rejected_naming_both_files(tmp_path: Path) -> None:
    _write(tmp_path, "001_first.sql")
    _write(tmp_path, "001_second.sql")

    with pytest.raises(MigrationError, match="duplicate migration number 1") as info:
        discover(tmp_path)
    assert "001_first.sql" in str(info.value) and "001_second.sql" in str(info.value)


def test_same_number_with_different_padding_is_a_duplicate(tmp_path: Path) -> None:
    _write(tmp_path, "007_a.sql")
    _write(tmp_path, "0007_b.sql")

    with pytest.raises(MigrationError, match="duplicate migration number 7"):
        discover(tmp_path)


def test_missing_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        discover(tmp_path / "nope")


def test_migration_error_is_a_database_error() -> None:
    assert issubclass(MigrationError, DatabaseError)


def test_shipped_migrations_are_valid_and_start_with_projector_offsets() -> None:
    found = discover(SQL_DIR)

    assert found, f"no migrations in {SQL_DIR}"
    assert found[0].name == "001_projector_offsets"
    assert [m.version for m in found] == sorted({m.version for m in found})
    assert "projector_offsets" in found[0].sql()
