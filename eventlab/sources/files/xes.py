"""XES / XES.gz -> Parsed, vectorized (no XML parser, no loop over events).

Mapping: a ``<trace>`` is a stream (``stream_id`` = the trace's ``concept:name``, or
``trace-<n>`` for the n-th trace of the file when it has none); an ``<event>`` is an event with
``concept:name`` -> ``event_type``, ``time:timestamp`` -> ``occurred_at`` and ``org:resource``
-> ``actor``. Other event attributes become payload columns typed by their XES type (string, id
-> String; int -> Int64; float -> Float64; boolean -> Boolean; date -> Datetime UTC). A key seen
with several types, or with a value its type cannot hold, is a String column. Trace attributes
become ``case:<key>`` columns on every event of the trace. Nested attributes (children of an
attribute, ``<list>`` and ``<container>`` items) are flattened to ``<parent>.<child>`` columns; a
key repeated within one event (list items) gets ``#2``, ``#3`` ... suffixes. Log-level attributes,
``<global>`` defaults, extensions and classifiers are not imported. A payload key that is an
envelope column name (``version``, ``position``, ...) is imported as ``source_<key>``.

Values are unescaped (the 5 XML entities and numeric character references; other named
entities cannot be defined without a DTD and are left as written) and attribute whitespace is
normalised as XML parsers do (tab, CR, LF -> space).

Quarantine: ``source_line`` is the line of the event's ``<event>`` tag and ``raw`` its XML text.
The deterministic event id is hashed from the event's attributes (sorted ``key=value`` pairs), so
re-indenting or re-compressing a file does not change the ids.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.errors import ImportFormatError
from eventlab.sources.batch import (
    LINE,
    ORDER,
    PRESET,
    RECORD,
    TS,
    Labels,
    Parsed,
    finish,
    parse_times,
    quarantine_frame,
)
from eventlab.sources.files import xes_tokens as X
from eventlab.sources.mapping import RENAMED_PREFIX, unique_name
from eventlab.sources.source import as_int, read_bytes, slug, source_stem
from eventlab.textformat import format_text

EVENT_FIELDS = {"concept:name": "event_type", "time:timestamp": TS, "org:resource": "actor"}
LABELS = Labels("trace concept:name", "event concept:name", "event time:timestamp")
_KEYLESS = "\x00keyless"
Columns = dict[str, tuple[pl.Series, set[str]]]  # path -> (raw String column, XES types seen)


def read_xes(path: str | Path, *, stream_type: str | None = None, tz: str = "UTC") -> Parsed:
    """Read an XES or gzipped XES event log; see the module docstring for the mapping."""
    source, name = str(path), Path(path).name
    tokens = X.tokenize(read_bytes(path), name)
    classified = X.classify(tokens, name)
    table = classified.table
    tok = _structure(classified.rows, tokens, name)
    opens = tok.select(pl.arg_where(pl.col("kind").is_in([X.EV_OPEN, X.EV_SELF]))).to_series()
    attrs = _attributes(tok, table)
    event_rows = attrs.filter(pl.col("event").is_not_null())
    trace_rows = attrs.filter(pl.col("event").is_null())
    events = _widen(event_rows, "event", opens.len(), table)
    traces = _widen(trace_rows, "trace", as_int(tok["trace_no"].max()), table)
    candidates = _candidates(tok, opens, events, traces, tz)
    parsed, bad, duplicates = finish(
        candidates, source=source, stream_type=stream_type or slug(source_stem(path)),
        labels=LABELS, tz=tz,
    )
    quarantine = quarantine_frame(source, _bad_events(bad, tok, tokens, opens))
    return Parsed(source, "xes", parsed, quarantine, opens.len(), duplicates)


def _structure(tok: pl.DataFrame, tokens: pl.Series, name: str) -> pl.DataFrame:
    """Add event/trace numbers and depths and the attribute nesting level; check the nesting."""
    k = pl.col("kind")

    def step(opened: int, closed: int) -> pl.Expr:
        return (k == opened).cast(pl.Int32) - (k == closed).cast(pl.Int32)

    def count(opened: int, empty: int) -> pl.Expr:
        return ((k == opened) | (k == empty)).cast(pl.Int64).cum_sum()

    attr = step(X.ATTR_OPEN, X.ATTR_CLOSE)
    tok = tok.with_columns(
        step(X.EV_OPEN, X.EV_CLOSE).cum_sum().alias("ev_depth"),
        count(X.EV_OPEN, X.EV_SELF).alias("event_no"),
        step(X.TR_OPEN, X.TR_CLOSE).cum_sum().alias("tr_depth"),
        count(X.TR_OPEN, X.TR_SELF).alias("trace_no"),
        attr.cum_sum().alias("attr_depth"),
        attr.alias("step"),
    ).with_columns((pl.col("attr_depth") - pl.col("step") + 1).alias("level")).drop("step")
    if not (tok["kind"] == X.LOG_OPEN).any():
        raise ImportFormatError(f"{name} is not an XES file: it has no <log> element.")
    for column, what in (("ev_depth", "<event>"), ("tr_depth", "<trace>"),
                         ("attr_depth", "attribute element")):
        _check_depth(tok[column], tokens, name, what, 1 if column != "attr_depth" else None)
    return tok.drop("attr_depth")


def _check_depth(depth: pl.Series, tokens: pl.Series, name: str, what: str,
                 most: int | None) -> None:
    wrong = (depth < 0) | (depth > most if most is not None else False)
    if wrong.any():
        line = int(X.token_lines(tokens)[int(wrong.arg_true()[0])])
        raise ImportFormatError(
            f"{name} is not well-formed XES: unexpected {what} nesting at line {line}."
        )
    if depth.len() and depth[-1] != 0:
        raise ImportFormatError(
            f"{name} ends inside an unclosed {what}: the file looks truncated (or an attribute "
            "value contains a raw '<'). Hint: download or export it again."
        )


def _attributes(tok: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Attribute elements of events and traces: ``event`` / ``trace`` owner, token ``code``,
    ``pcode`` (a number per distinct path; null for an attribute without key) and, for nested
    attributes, the ``path`` text."""
    k = pl.col("kind")
    rows = tok.filter(k.is_in([X.ATTR_SELF, X.ATTR_OPEN])
                      & ((pl.col("ev_depth") > 0) | (pl.col("tr_depth") > 0)))
    code = rows["code"]
    rows = rows.select(
        pl.when(pl.col("ev_depth") > 0).then(pl.col("event_no")).alias("event"),
        pl.col("trace_no").alias("trace"), "kind", "level", "code",
        table["kcode"].gather(code).alias("pcode"), table["atype"].gather(code).alias("atype"),
    )
    top = as_int(rows["level"].max(), 1)
    if top > 1:
        rows = rows.with_columns(table["key"].gather(code).alias("path"))
        for level in range(2, top + 1):
            parent = pl.when((pl.col("level") == level - 1) & (k == X.ATTR_OPEN)).then(
                pl.col("path")).forward_fill()
            rows = rows.with_columns(
                pl.when(pl.col("level") == level).then(parent + "." + pl.col("path"))
                .otherwise(pl.col("path")).alias("path"))
        codes = rows["path"].cast(pl.Categorical(pl.Categories.random())).to_physical()
        rows = rows.with_columns(codes.alias("pcode"))
    containers = [X.ATTRIBUTE_TAGS.index("list"), X.ATTRIBUTE_TAGS.index("container")]
    return rows.filter(~pl.col("atype").is_in(containers))


def _widen(rows: pl.DataFrame, owner: str, n: int, table: pl.DataFrame) -> Columns:
    """Attribute rows -> one raw String column per path (length n, indexed by owner - 1), with
    the XES types seen for that path. Loops over distinct paths, never over rows: token codes
    are scattered into place and the values looked up once per cell."""
    out: Columns = {}
    missing = rows.filter(pl.col("pcode").is_null())
    if missing.height:
        flags = pl.repeat(None, n, dtype=pl.String, eager=True).scatter(
            missing[owner] - 1, pl.repeat("x", missing.height, eager=True))
        out[_KEYLESS] = (flags.alias(_KEYLESS), {"string"})
    rows = rows.filter(pl.col("pcode").is_not_null())
    if rows.height == 0:
        return out
    path = pl.col("path").first() if "path" in rows.columns else pl.col("code").first()
    names = rows.group_by("pcode", maintain_order=True).agg(path.alias("path"),
                                                          pl.col("atype").unique())
    if "path" not in rows.columns:
        names = names.with_columns(table["key"].gather(names["path"]).alias("path"))
    parts = rows.select(owner, "pcode", "atype", "code").partition_by("pcode", as_dict=True)
    for pcode, name, types in names.iter_rows():
        part = parts[(pcode,)]
        if not (part[owner].diff() == 0).any():
            out[name] = (_cells(name, part[owner] - 1, part["code"], n, table), _types(types))
            continue
        part = part.with_columns(pl.int_range(pl.len()).over(owner).alias("occ"))
        for (occ,), piece in sorted(part.partition_by("occ", as_dict=True).items()):
            column = name if occ == 0 else f"{name}#{occ + 1}"
            out[column] = (_cells(column, piece[owner] - 1, piece["code"], n, table),
                           _types(piece["atype"].unique().to_list()))
    return out


def _types(codes: list[int]) -> set[str]:
    return {X.ATTRIBUTE_TAGS[c] for c in codes}


def _cells(name: str, index: pl.Series, codes: pl.Series, n: int,
           table: pl.DataFrame) -> pl.Series:
    """A String column of length n: the value of token ``codes[i]`` at row ``index[i]``."""
    placed = pl.repeat(None, n, dtype=pl.UInt32, eager=True).scatter(index, codes)
    return table["value"].gather(placed).alias(name)


def typed(raw: pl.Series, types: set[str], tz: str) -> pl.Series:
    """A raw String column in the dtype of its XES type (String if mixed or not convertible)."""
    if len(types) != 1:
        return raw
    kind = next(iter(types))
    text = raw.str.strip_chars()
    if kind == "int":
        out = text.str.to_integer(strict=False)
    elif kind == "float":
        out = text.cast(pl.Float64, strict=False)
    elif kind == "boolean":
        low = text.str.to_lowercase()
        out = pl.select(pl.when(low.is_in(["true", "1"])).then(True).when(
            low.is_in(["false", "0"])).then(False)).to_series()
    elif kind == "date":
        out = parse_times(text, tz=tz)
    else:
        return raw
    return out.alias(raw.name) if out.null_count() == raw.null_count() else raw


def _record(columns: Columns) -> pl.Expr:
    """Sorted ``key=value`` pairs of an event (what its id is hashed from)."""
    pairs = [pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c}\x1f") + pl.col(c))
             for c in sorted(columns)]
    if not pairs:
        return pl.lit("", pl.String)
    return pl.concat_str(pairs, separator="\x1e", ignore_nulls=True)


def _candidates(tok: pl.DataFrame, opens: pl.Series, events: Columns, traces: Columns,
                tz: str) -> pl.DataFrame:
    """One row per <event> with the envelope fields, payload, trace columns and a preset reason
    for structural problems."""
    events = _clear_of_internal_names(events)
    real = {p: v for p, v in events.items() if not p.startswith(_KEYLESS)}
    base = pl.concat([tok[opens].select("event_no", "trace_no", "tr_depth"),
                      pl.DataFrame([series for series, _ in events.values()])],
                     how="horizontal")
    taken = set(ENVELOPE) | set(PARTITION_ONLY) | set(EVENT_FIELDS.values())
    payload = []
    for path, (series, types) in real.items():
        if path not in EVENT_FIELDS:
            name = unique_name(RENAMED_PREFIX + path if path in taken else path, taken)
            taken.add(name)
            payload.append(typed(series, types, tz).alias(name))
    keyless = pl.col(_KEYLESS).is_not_null() if _KEYLESS in events else pl.lit(False)
    preset = (pl.when(pl.col("tr_depth") == 0).then(pl.lit("event outside a <trace>"))
              .when(keyless).then(pl.lit("an attribute element of the event has no key"))
              .otherwise(pl.lit(None, pl.String)))
    frame = base.select(
        pl.col("event_no").alias(ORDER), pl.col("event_no").alias(LINE), "trace_no", "tr_depth",
        _record(real).alias(RECORD), preset.alias(PRESET),
        *(pl.col(src).alias(dst) if src in real else pl.lit(None, pl.String).alias(dst)
          for src, dst in EVENT_FIELDS.items()),
    ).with_columns(payload)
    frame = frame.join(_trace_frame(traces, tz, taken), on="trace_no", how="left",
                       maintain_order="left")
    stream_id = pl.coalesce(pl.col("stream_id"), format_text("trace-{}", pl.col("trace_no")))
    return frame.with_columns(
        pl.when(pl.col("tr_depth") > 0).then(stream_id).alias("stream_id")
    ).drop("trace_no", "tr_depth")


_OWN_COLUMNS = ("event_no", "trace_no", "tr_depth")


def _clear_of_internal_names(columns: Columns) -> Columns:
    """Attribute keys that are names of the reader's own columns get the ``source_`` prefix."""
    taken = set(columns) | set(_OWN_COLUMNS)
    out: Columns = {}
    for path, (series, types) in columns.items():
        if path in _OWN_COLUMNS or path.startswith("__eventlab"):
            path = unique_name(RENAMED_PREFIX + path, taken)
            taken.add(path)
            series = series.alias(path)
        out[path] = (series, types)
    return out


def _trace_frame(traces: Columns, tz: str,
                 taken: set[str]) -> pl.DataFrame:
    n = next(iter(traces.values()))[0].len() if traces else 0
    columns = [pl.int_range(1, n + 1, dtype=pl.Int64, eager=True).alias("trace_no")]
    stream = traces.get("concept:name")
    columns.append(stream[0].alias("stream_id") if stream else pl.Series(
        "stream_id", [None] * n, dtype=pl.String))
    for path, (series, types) in traces.items():
        if path == "concept:name" or path.startswith(_KEYLESS):
            continue
        name = unique_name(f"case:{path}", taken)
        taken.add(name)
        columns.append(typed(series, types, tz).alias(name))
    return pl.DataFrame(columns).with_columns(
        pl.col("stream_id").str.strip_chars().replace("", None))


def _bad_events(bad: pl.DataFrame, tok: pl.DataFrame, tokens: pl.Series,
                opens: pl.Series) -> pl.DataFrame:
    """Quarantine rows for rejected events: line of the <event> tag and the event's XML text."""
    if bad.height == 0:
        return pl.DataFrame(schema={"source_line": pl.Int64, "reason": pl.String,
                                    "raw": pl.String})
    numbers = bad[ORDER]
    lines = X.token_lines(tokens).gather(opens.gather(numbers - 1))
    k = pl.col("kind")
    text = pl.DataFrame({"t": tokens, "event_no": tok["event_no"], "kind": tok["kind"],
                         "ev_depth": tok["ev_depth"]}).filter(
        pl.col("event_no").is_in(numbers.implode())
        & ((pl.col("ev_depth") > 0) | k.is_in([X.EV_CLOSE, X.EV_SELF]))
    ).group_by("event_no").agg(pl.col("t").str.join(""))
    out = pl.DataFrame({"event_no": numbers, "source_line": lines, "reason": bad["reason"]})
    return out.join(text, on="event_no", how="left").select(
        "source_line", "reason", pl.col("t").str.strip_chars_end().alias("raw")).sort("source_line")
