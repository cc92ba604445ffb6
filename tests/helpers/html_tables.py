"""Read the tables of rendered HTML back as text: what a person sees in each cell."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list[list[str]]]] = []
        self._part = "body"
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"head": [], "body": [], "foot": [], "align": []})
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag[1:]
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            found = dict(attrs)
            style, classes = found.get("style") or "", found.get("class") or ""
            right = "text-align: right" in style or "gt_right" in classes
            self._styles.append("right" if right else "left")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and self.tables:
                self.tables[-1][self._part].append(self._row)
                if self._part == "body":
                    self.tables[-1]["align"].append(self._styles[-len(self._row):])
            self._row, self._styles = None, []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[dict[str, list[list[str]]]]:
    """Every table: ``head`` (header rows), ``body`` (data rows), ``foot`` (notes) as cell
    texts, and ``align`` ("left"/"right" per body cell)."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def body(html: str, index: int = 0) -> list[list[str]]:
    return tables(html)[index]["body"]


def header(html: str, index: int = 0) -> list[str]:
    head = tables(html)[index]["head"]
    return head[-1] if head else []


def fields(html: str, index: int = 0) -> dict[str, str]:
    """A key/value table (render.fields) as a dict."""
    return {row[0]: row[1] for row in body(html, index) if len(row) == 2}
