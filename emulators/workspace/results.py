"""Statement results the stand-in answers itself (system and information_schema tables, commands), in the
shape the SQL statements API gives an engine's result: JSON_ARRAY, INLINE, one chunk, every value a string."""

from __future__ import annotations

from typing import Any


def inline_result(
    columns: list[dict[str, Any]], rows: list[list[Any]], row_limit: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, result) for ``columns`` (name, position, type_name, type_text) and ``rows``."""
    texts = [[None if v is None else str(v) for v in row] for row in rows]
    truncated = row_limit is not None and len(texts) > row_limit
    texts = texts[:row_limit] if truncated else texts
    manifest = {
        "format": "JSON_ARRAY",
        "schema": {"column_count": len(columns), "columns": columns},
        "total_chunk_count": 1,
        "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": len(texts)}],
        "total_row_count": len(texts),
        "truncated": truncated,
    }
    result: dict[str, Any] = {"chunk_index": 0, "row_offset": 0, "row_count": len(texts)}
    if texts:
        result["data_array"] = texts
    return manifest, result
