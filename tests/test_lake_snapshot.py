"""A result table's version and row count read from its Delta log (``climatelake.lake``, issue 18).

The completion event's ``row_count`` must stay the table's true row count whichever way it is found:
from the add actions' ``numRecords`` when every file has it, else (no statistics, deletion vectors) by a
scan of the same snapshot. Local Delta tables written with deltalake; no stack needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from climatelake import lake


def _write(path: Path, values: list[int], mode: str = "append") -> None:
    write_deltalake(str(path), pl.DataFrame({"a": values}, schema={"a": pl.Int64}).to_arrow(), mode=mode)


def _strip_stats(path: Path) -> None:
    """Remove ``stats`` from every add action, as a writer that collects no statistics leaves them."""
    for commit in sorted((path / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
        for action in actions:
            action.get("add", {}).pop("stats", None)
        commit.write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_rows_from_the_log_count_every_current_file(tmp_path: Path) -> None:
    _write(tmp_path, [1, 2, 3])
    _write(tmp_path, [4])
    assert lake.delta_version_and_rows(str(tmp_path), {}) == (1, 4)


def test_an_overwrite_counts_only_the_new_files(tmp_path: Path) -> None:
    _write(tmp_path, [1, 2, 3])
    _write(tmp_path, [7, 8], mode="overwrite")
    assert lake.delta_version_and_rows(str(tmp_path), {}) == (1, 2)


def test_an_empty_table_has_zero_rows(tmp_path: Path) -> None:
    _write(tmp_path, [])
    assert lake.delta_version_and_rows(str(tmp_path), {}) == (0, 0)


def test_files_without_statistics_are_counted_by_a_scan(tmp_path: Path) -> None:
    _write(tmp_path, [1, 2, 3])
    _write(tmp_path, [4, 5])
    _strip_stats(tmp_path)
    assert pl.DataFrame(DeltaTable(str(tmp_path)).get_add_actions(flatten=True))["num_records"].null_count()
    assert lake.delta_version_and_rows(str(tmp_path), {}) == (1, 5)


def test_deletion_vectors_make_it_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With deletion vectors a file's numRecords includes its deleted rows: the log's sum would be wrong.
    (deltalake writes no deletion vectors, so the table claims the feature through a wrapper.)"""
    _write(tmp_path, [1, 2, 3])

    class WithDeletionVectors:
        def __init__(self, location: str, storage_options: dict[str, str]) -> None:
            self.real = DeltaTable(location, storage_options=storage_options)

        def version(self) -> int:
            return self.real.version()

        def protocol(self) -> SimpleNamespace:
            return SimpleNamespace(min_reader_version=3, reader_features=["deletionVectors"])

        def get_add_actions(self, flatten: bool = False):
            raise AssertionError("numRecords must not be trusted with deletion vectors")

    scanned: list[object] = []
    scan = pl.scan_delta
    monkeypatch.setattr(lake, "DeltaTable", WithDeletionVectors)
    monkeypatch.setattr(lake.pl, "scan_delta", lambda table: scanned.append(table) or scan(table.real))
    assert lake.delta_version_and_rows(str(tmp_path), {}) == (0, 3)
    assert len(scanned) == 1
