"""XES text -> one row per markup token, classified with Polars string operations (no XML parser).

The file is cut before every ``<`` (see :func:`eventlab.sources.source.split_bytes`), so a token
is ``<tag attr="..." .../>`` plus the text that follows it (whitespace in XES). Splitting a token on
``"`` gives ``<string key=`` / key / `` value=`` / value / ``/>``: the common shapes are recognised
by exact comparison with a few known strings, and only the tokens that differ (single quotes,
other spacing, attribute order, the ``<log ...>`` header) go through regular expressions.

Comments and CDATA sections are skipped; a DOCTYPE, ENTITY or other ``<!`` declaration is
refused (entity expansion attacks). ``<`` cannot occur inside an attribute value in well-formed
XML, so cutting at ``<`` never splits a value.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from eventlab.errors import ImportFormatError
from eventlab.sources.source import UTF8_BOM, as_int, first_bad_utf8, split_bytes

ATTRIBUTE_TAGS = ("string", "date", "int", "float", "boolean", "id", "list", "container")
# token kinds
IGNORE, ATTR_SELF, ATTR_OPEN, ATTR_CLOSE = 0, 1, 2, 3
EV_OPEN, EV_CLOSE, EV_SELF, TR_OPEN, TR_CLOSE, TR_SELF, LOG_OPEN = 4, 5, 6, 7, 8, 9, 10
_STRUCTURE = {
    "event": (EV_OPEN, EV_CLOSE, EV_SELF), "trace": (TR_OPEN, TR_CLOSE, TR_SELF),
    "log": (LOG_OPEN, IGNORE, LOG_OPEN),
}
_BARE = {
    **{f"<{n}>": k[0] for n, k in _STRUCTURE.items()},
    **{f"</{n}>": k[1] for n, k in _STRUCTURE.items()},
    **{f"<{n}/>": k[2] for n, k in _STRUCTURE.items()},
    **{f"</{t}>": ATTR_CLOSE for t in ATTRIBUTE_TAGS},
}
_HEADS = {f"<{t} key=": t for t in ATTRIBUTE_TAGS}
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_NAME = r"[A-Za-z_][\w.:-]*"
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


def to_utf8(data: bytes, name: str) -> bytes:
    """The document as UTF-8 bytes (BOM removed; a declared other encoding converted)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
    if data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM):]
    found = _DECLARATION.match(data[:512])
    if not found:
        return data
    encoding = found.group(1).decode("ascii")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ImportFormatError(
            f"{name} declares encoding {encoding!r}, which Python does not know. Hint: convert "
            "the file to UTF-8 (iconv -t UTF-8)."
        ) from None
    if codec in ("utf-8", "ascii"):
        return data
    try:
        return data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{name} is not valid {encoding}: {exc}") from None


def tokenize(data: bytes, name: str) -> pl.Series:
    """Every token (``<`` to the next ``<``) as a String series; the first is the text before."""
    data = to_utf8(data, name)
    try:
        return split_bytes(data, ord("<")).cast(pl.String).alias("t")
    except pl.exceptions.ComputeError:
        line = first_bad_utf8(data)
        raise ImportFormatError(
            f"{name} is not valid UTF-8 (line {line}) and declares no other encoding. Hint: "
            "add encoding=\"...\" to the <?xml ...?> declaration, or convert the file to UTF-8."
        ) from None


def token_lines(tokens: pl.Series) -> pl.Series:
    """1-based line number where each token starts."""
    newlines = tokens.str.count_matches("\n", literal=True).cast(pl.Int64)
    return newlines.cum_sum() - newlines + 1


def _region(opens: pl.Series, closes: pl.Series) -> pl.Series:
    """True for tokens inside sections that start at ``opens`` and end at the first token of
    ``closes`` (comments, CDATA)."""
    if not (opens & ~closes).any():  # every section fits in one token (no '<' inside)
        return opens
    closes_i = closes.cast(pl.Int64)
    before = closes_i.cum_sum() - closes_i
    at_open = pl.select(pl.when(opens).then(before).forward_fill()).to_series()
    return (at_open.is_not_null() & (before == at_open)).fill_null(False)


@dataclass(frozen=True)
class Tokens:
    """Classified tokens: ``rows`` has ``kind`` and ``code`` per token; ``table`` is indexed by
    ``code`` (row i describes code i): ``atype`` (index into ATTRIBUTE_TAGS), ``key``, ``value``
    (unescaped), ``kcode`` (a number per distinct key)."""

    rows: pl.DataFrame
    table: pl.DataFrame


def classify(tokens: pl.Series, name: str) -> Tokens:
    """Classify every token; refuse DTD declarations.

    Most tokens repeat (same attribute, same value), so the string work runs once per distinct
    token (a Categorical gives each one a code) and rows keep only their code.
    """
    cat = tokens.cast(pl.Categorical(pl.Categories.random()))
    codes = cat.to_physical().alias("code")
    distinct = cat.unique()
    info = _classify_distinct(pl.DataFrame({"code": distinct.to_physical(),
                                            "t": distinct.cast(pl.String)}))
    size = as_int(info["code"].max()) + 1
    table = pl.DataFrame([
        pl.repeat(None, size, dtype=info.schema[c], eager=True).scatter(info["code"], info[c])
        .alias(c) for c in info.columns if c not in ("code", "t")
    ])

    def spread(column: str) -> pl.Series:
        return table.get_column(column).gather(codes)

    rows = pl.DataFrame([spread("kind"), codes])
    skip = _skipped(info, spread)
    if skip is not None:
        rows = rows.with_columns(pl.when(skip).then(pl.lit(IGNORE, pl.UInt8)).otherwise(
            pl.col("kind")).alias("kind"))
    if info["declaration"].any():
        declared = spread("declaration") & (~skip if skip is not None else True)
        if declared.any():
            _refuse(tokens, int(declared.arg_true()[0]), name)
    return Tokens(rows, table.select("atype", "key", "value", "kcode"))


def _skipped(info: pl.DataFrame, spread: Callable[[str], pl.Series]) -> pl.Series | None:
    """Rows inside comments or CDATA sections (None when the file has neither)."""
    skip = None
    for opens, closes in (("comment", "comment_end"), ("cdata", "cdata_end")):
        if info[opens].any():
            inside = _region(spread(opens), spread(closes))
            skip = inside if skip is None else skip | inside
    return skip


def _classify_distinct(uniq: pl.DataFrame) -> pl.DataFrame:
    """Per distinct token: kind, atype, key, value and markup flags."""
    t = pl.col("t")
    uniq = uniq.with_columns(
        t.str.starts_with("<!--").alias("comment"), t.str.contains("-->", literal=True)
        .alias("comment_end"), t.str.starts_with("<![CDATA[").alias("cdata"),
        t.str.contains("]]>", literal=True).alias("cdata_end"),
    ).with_columns(
        (t.str.starts_with("<!") & ~pl.col("comment") & ~pl.col("cdata")).alias("declaration"))
    parts = uniq["t"].str.split_exact('"', 4).struct.unnest()
    frame = uniq.hstack(parts)
    heads = _classify_heads(frame.get_column("field_0").unique())
    frame = frame.join(heads, on="field_0", how="left", maintain_order="left")
    out = frame.select(
        "code", "t", "comment", "comment_end", "cdata", "cdata_end", "declaration",
        pl.when(pl.col("comment") | pl.col("cdata")).then(pl.lit(IGNORE, pl.UInt8))
        .otherwise(_fast_kind()).alias("kind"),
        "atype", pl.col("field_1").alias("key"), pl.col("field_3").alias("value"),
    )
    slow = out.with_row_index("row").filter(
        pl.col("kind").is_null() & t.str.contains(f"^</?{_NAME}"))
    if slow.height:
        fixed = _slow_parse(slow)
        rows = fixed["row"]
        out = out.with_columns(out.get_column(c).scatter(rows, fixed.get_column(c))
                               for c in ("kind", "atype", "key", "value"))
    key = unescape(out["key"])
    return out.with_columns(
        pl.col("kind").fill_null(IGNORE).cast(pl.UInt8), key.alias("key"),
        unescape(out["value"]).alias("value"),
        key.cast(pl.Categorical(pl.Categories.random())).to_physical().alias("kcode"),
        pl.col("atype").replace_strict(ATTRIBUTE_TAGS, list(range(len(ATTRIBUTE_TAGS))),
                                       default=None, return_dtype=pl.UInt8),
    )


def unescape(values: pl.Series) -> pl.Series:
    """XML attribute-value normalisation, then entity and character-reference replacement."""
    if values.str.contains(r"[\t\n\r]").any():
        values = values.str.replace_all(r"\r\n|[\t\n\r]", " ")
    amp = values.str.contains("&", literal=True)
    if not amp.any():
        return values
    refs = (values.filter(amp).str.extract_all(r"&#(?:[0-9]+|x[0-9A-Fa-f]+);").explode()
            .drop_nulls().unique().to_list())
    patterns = [*_ENTITIES, *refs]
    replacements = [*_ENTITIES.values(), *(_char(r) for r in refs)]
    return values.str.replace_many(patterns, replacements)


def _char(ref: str) -> str:
    code = int(ref[3:-1], 16) if ref[2] == "x" else int(ref[2:-1])
    valid = 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF
    return chr(code) if valid else ref


def _classify_heads(heads: pl.Series) -> pl.DataFrame:
    """For each distinct token head: ``bare`` (kind of a token without attributes) and
    ``atype`` (attribute type when the head is exactly ``<type key=``)."""
    return heads.to_frame("field_0").with_columns(
        pl.col("field_0").str.strip_chars_end().replace_strict(
            _BARE, default=None, return_dtype=pl.UInt8).alias("bare"),
        pl.col("field_0").replace_strict(_HEADS, default=None, return_dtype=pl.String)
        .alias("atype"),
    )


def _refuse(tokens: pl.Series, index: int, name: str) -> None:
    line = int(token_lines(tokens)[index])
    raise ImportFormatError(
        f"refusing {name}: it contains a DOCTYPE/ENTITY declaration (line {line}). XES never "
        "needs one and entity expansion can exhaust memory. Hint: delete the <!DOCTYPE ...> / "
        "<!ENTITY ...> lines if you trust the file."
    )


def _fast_kind() -> pl.Expr:
    f2, f3 = pl.col("field_2"), pl.col("field_3")
    tail = pl.when(f3.is_null()).then(f2).otherwise(pl.col("field_4"))
    attribute = pl.col("atype").is_not_null() & (f3.is_null() | (f2 == " value="))
    return (
        pl.when(pl.col("field_1").is_null()).then(pl.col("bare"))
        .when(attribute & tail.str.contains(r"^\s*/>")).then(pl.lit(ATTR_SELF, pl.UInt8))
        .when(attribute & tail.str.contains(r"^\s*>")).then(pl.lit(ATTR_OPEN, pl.UInt8))
        .otherwise(pl.lit(None, pl.UInt8))
    )


def _attribute_value(name: str) -> pl.Expr:
    t = pl.col("t")
    return pl.coalesce(
        t.str.extract(rf"\s{name}\s*=\s*\"([^\"]*)\"", 1),
        t.str.extract(rf"\s{name}\s*=\s*'([^']*)'", 1),
    )


def _slow_parse(slow: pl.DataFrame) -> pl.DataFrame:
    """General parse of the tokens the fast path did not recognise (namespace prefixes such as
    ``xes:event`` are dropped)."""
    t = pl.col("t")
    tag = t.str.extract(f"^</?({_NAME})", 1).str.replace(r"^.*:", "")
    closing = t.str.starts_with("</")
    self_closing = t.str.contains(r"/\s*>[^>]*$")
    is_attr = tag.is_in(list(ATTRIBUTE_TAGS))
    kind = pl.when(is_attr & closing).then(ATTR_CLOSE).when(is_attr & self_closing).then(
        ATTR_SELF).when(is_attr).then(ATTR_OPEN)
    for element, (opened, closed, empty) in _STRUCTURE.items():
        kind = kind.when((tag == element) & closing).then(closed).when(
            (tag == element) & self_closing).then(empty).when(tag == element).then(opened)
    return slow.select(
        "row",
        kind.otherwise(IGNORE).cast(pl.UInt8).alias("kind"),
        pl.when(is_attr & ~closing).then(tag).alias("atype"),
        pl.when(is_attr & ~closing).then(_attribute_value("key")).alias("key"),
        pl.when(is_attr & ~closing).then(_attribute_value("value")).alias("value"),
    )
