"""``format_text``: a drop-in for ``pl.format`` built on ``pl.concat_str``.

Polars 2.1's streaming engine can panic inside ``pl.format`` (``assertion failed: i <
self.len()`` in ``binview``) when it evaluates the expression on morsels sliced out of a sorted
frame; it is intermittent, about one run in thirty of the bank decider test, and close to
pola-rs/polars#25339. ``concat_str`` takes a different code path and does not. eventlab builds
every formatted string (event ids, rejection reasons) with this function, and rules you write
for a decider may use it too.
"""

from __future__ import annotations

import polars as pl

from eventlab.errors import ValidationError

__all__ = ["format_text"]


def format_text(template: str, *args: pl.Expr | str) -> pl.Expr:
    """Like ``pl.format``: each ``{}`` in ``template`` takes the next argument (an expression,
    or a column name); ``{{`` and ``}}`` are literal braces. Null in any argument gives null.

    >>> import polars as pl
    >>> pl.select(format_text("{}-{}", pl.lit("a"), pl.lit(1))).item()
    'a-1'
    """
    pieces = _split(template)
    if len(pieces) - 1 != len(args):
        raise ValidationError(
            f"format_text: the template has {len(pieces) - 1} placeholder(s) '{{}}' but "
            f"{len(args)} argument(s) were given; pass one expression per '{{}}'"
        )
    parts: list[pl.Expr] = []
    for piece, arg in zip(pieces, [*args, None], strict=True):
        if piece:
            parts.append(pl.lit(piece, pl.String))
        if arg is not None:
            expr = pl.col(arg) if isinstance(arg, str) else arg
            parts.append(expr.cast(pl.String))
    return pl.concat_str(parts) if parts else pl.lit("", pl.String)


def _split(template: str) -> list[str]:
    """The literal pieces around each ``{}``, with ``{{``/``}}`` unescaped."""
    pieces, current, i = [], [], 0
    while i < len(template):
        pair = template[i:i + 2]
        if pair in ("{{", "}}"):
            current.append(pair[0])
            i += 2
        elif pair == "{}":
            pieces.append("".join(current))
            current = []
            i += 2
        else:
            current.append(template[i])
            i += 1
    pieces.append("".join(current))
    return pieces
