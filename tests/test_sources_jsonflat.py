"""JSON documents -> flat typed payload columns (the rule every database source shares)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from eventlab.sources.jsonflat import flatten_documents, flatten_repeated


def test_naming_rule_lists_types_and_reasons() -> None:
    texts = pl.Series([
        '{"a": 1, "c": {"d": {"e": "x"}}, "l": [1, 2], "o": [{"k": 1}], "stream_id": "s"}',
        '{"a": 2.5}', "[1, 2]", None, '{"m": 1}', '{"m": {"n": 1}}', "{broken",
        '{"t": {"_type_": "datetime_iso", "_data_": "2024-01-01T10:00:00+00:00"}}',
    ])
    groups = pl.Series(["A", "A", "A", "A", "B", "B", "B", "C"])
    flat = flatten_documents(texts, groups, reserved={"stream_id"})
    frame = flat.payload
    assert frame.height == 8
    assert frame.schema["a"] == pl.Float64 and frame["a"].to_list()[:2] == [1.0, 2.5]
    assert frame["c_d_e"][0] == "x" and frame["l"][0].to_list() == [1, 2]
    assert frame["o"][0].to_list() == ['{"k":1}'] and frame["source_stream_id"][0] == "s"
    assert frame["m"].to_list()[4:6] == ["1", '{"n": 1}']  # mixed kinds kept as JSON text
    assert frame["t"][7] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    reasons = flat.reasons.to_list()
    assert reasons[2] == "data is not a JSON object" and reasons[3] == "data is missing (null)"
    assert reasons[6].startswith("invalid JSON") and reasons[0] is None and reasons[5] is None


def test_repeated_documents_are_decoded_once_and_spread_back() -> None:
    texts = pl.Series(['{"u": "ops"}', "{}", '{"u": "ops"}', None])
    flat = flatten_repeated(texts, prefix="meta_")
    assert flat.payload["meta_u"].to_list() == ["ops", None, "ops", None]
    assert flatten_repeated(pl.Series(["{}", "{}"])).payload.height == 2
