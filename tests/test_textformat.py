"""format_text is pl.format built on concat_str (pl.format panics intermittently in Polars
2.1's streaming engine); it must give exactly what pl.format gives on the in-memory engine."""

from __future__ import annotations

import polars as pl
import pytest

from eventlab import format_text

FRAME = pl.DataFrame({"a": ["x", None, "z", ""], "b": [1, 2, None, 4], "c": [0.5, 1.0, 2.0, None]})


@pytest.mark.parametrize(
    ("template", "args"),
    [
        ("{}", ["a"]),
        ("{}:{}", ["a", "b"]),
        ("id {} is {} ({})", ["a", "b", "c"]),
        ("{{literal}} {} }}", ["b"]),
        ("no placeholders", []),
        ("{}{}", ["b", "b"]),
    ],
)
def test_same_result_as_pl_format(template: str, args: list[str]) -> None:
    exprs = [pl.col(a) for a in args]
    ours = FRAME.lazy().select(out=format_text(template, *exprs)).collect()
    polars = FRAME.lazy().select(out=pl.format(template, *exprs)).collect(engine="in-memory")
    assert ours.to_series().to_list() == polars.to_series().to_list()


def test_column_names_as_strings_and_null_propagation() -> None:
    out = FRAME.select(format_text("{}-{}", "a", "b")).to_series().to_list()
    assert out == ["x-1", None, None, "-4"]


def test_wrong_number_of_arguments_says_how_many() -> None:
    with pytest.raises(ValueError, match=r"2 placeholder.*1 argument"):
        format_text("{}:{}", "a")


def test_streaming_engine_on_sorted_sliced_morsels() -> None:
    """The shape that made pl.format panic in the decider: concat of filtered parts, sort,
    a window, then formatting a string and an integer column, collected by the streaming engine."""
    n = 50_000
    frame = pl.DataFrame({"seq": range(n), "cid": [f"c{i}" for i in range(n)],
                          "kind": [i % 3 for i in range(n)]}).lazy()
    parts = [frame.filter(pl.col("kind") == k).with_columns(t=pl.lit(k)) for k in range(3)]
    events = pl.concat(parts).sort("seq", "t").with_columns(
        index=pl.int_range(pl.len(), dtype=pl.Int64).over("seq"))
    out = events.select(format_text("{}:{}", "cid", "index")).collect(engine="streaming")
    assert out.height == n
    assert out.to_series().head(3).to_list() == ["c0:0", "c1:0", "c2:0"]
