"""FrameTable: a Polars frame as a paged, sortable table inside a widget.

The frame stays in the kernel; the browser gets one page of rows at a time, drawn by
:func:`eventlab.render.table` (great-tables HTML), so a 100,000-row state costs the same per
step as a 20-row one. Clicking a column header sorts by it (again: the other way), the pager
moves through pages. The JavaScript is a few lines shipped here (an anywidget module): no CDN.

Python sets ``sort`` / ``descending`` / ``page`` the same way the clicks do; ``rows`` is the
page shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import anywidget
import polars as pl
import traitlets

import eventlab.render as render
from eventlab.projections.browse import containing, top_rows

ESM = """
function render({ model, el }) {
  el.classList.add("eventlab-frametable");
  const caption = document.createElement("div");
  caption.className = "eventlab-caption";
  caption.style.cssText = "color:#555;font-size:12px;margin:2px 0";
  const body = document.createElement("div");
  body.className = "eventlab-table";
  const pager = document.createElement("div");
  pager.className = "eventlab-pager";
  pager.style.cssText = "font-size:12px;margin:4px 0;display:flex;gap:8px;align-items:center";
  const prev = document.createElement("button");
  const next = document.createElement("button");
  const label = document.createElement("span");
  prev.textContent = "‹ previous"; next.textContent = "next ›";
  prev.className = "eventlab-previous"; next.className = "eventlab-next";
  pager.append(prev, label, next);
  el.append(caption, body, pager);
  const go = (page) => { model.set("page", page); model.save_changes(); };
  prev.addEventListener("click", () => go(model.get("page") - 1));
  next.addEventListener("click", () => go(model.get("page") + 1));
  function draw() {
    caption.textContent = model.get("caption");
    body.innerHTML = model.get("html");
    const columns = model.get("columns");
    const heads = body.querySelectorAll("thead tr:last-child th");
    heads.forEach((th, i) => {
      const name = columns[i];
      if (name === undefined) return;
      th.style.cursor = "pointer";
      th.title = "sort by " + name;
      th.addEventListener("click", () => {
        const same = model.get("sort") === name;
        model.set("descending", same ? !model.get("descending") : false);
        model.set("sort", name);
        model.set("page", 0);
        model.save_changes();
      });
    });
    const page = model.get("page"), pages = model.get("pages");
    label.textContent = "page " + (page + 1) + " of " + pages;
    prev.disabled = page <= 0;
    next.disabled = page >= pages - 1;
    pager.style.display = pages > 1 ? "flex" : "none";
  }
  model.on("change:html", draw);
  model.on("change:caption", draw);
  draw();
}
export default { render };
"""


class FrameTable(anywidget.AnyWidget):
    """A paged, sortable view of a frame. ``key`` breaks ties when sorting (and names the
    column ``contains`` filters on); ``page_rows`` rows per page."""

    _esm = traitlets.Unicode(ESM).tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    sort = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    pages = traitlets.Int(1).tag(sync=True)

    def __init__(
        self,
        frame: pl.DataFrame | None = None,
        *,
        key: Sequence[str] = (),
        page_rows: int = render.PAGE_ROWS,
        caption: str = "",
        sort: str = "",
        descending: bool = False,
    ) -> None:
        super().__init__(sort=sort, descending=descending)
        self.key, self.page_rows = list(key), page_rows
        self.contains = ""
        self.frame = pl.DataFrame() if frame is None else frame
        self.rows = self.frame.clear()
        self._caption = caption
        self.observe(lambda c: self._draw(), names="page")
        self.observe(lambda c: self._first_page(), names=["sort", "descending"])
        self._draw()

    def _first_page(self) -> None:
        """A new order starts on the first page."""
        if self.page:
            self.page = 0  # observer draws
        else:
            self._draw()

    def show(self, frame: pl.DataFrame, caption: str = "", *, contains: str = "",
             page: int = 0) -> None:
        """Show ``frame`` (from page ``page``), keeping the sort order chosen."""
        self.frame, self._caption, self.contains = frame, caption, contains
        with self.hold_trait_notifications():
            changed = self.page != page
            self.page = page
        if not changed:
            self._draw()

    def _draw(self) -> None:
        sort = self.sort if self.sort in self.frame.columns else None
        key = [k for k in self.key if k in self.frame.columns]
        rows = containing(self.frame, key, self.contains) if key else self.frame
        pages = max(1, -(-rows.height // self.page_rows))
        page = min(max(self.page, 0), pages - 1)
        self.rows = page_of(rows, key, sort, self.descending, page * self.page_rows,
                            self.page_rows)
        self.total = rows.height
        arrow = {sort: f"{sort} {'▼' if self.descending else '▲'}"} if sort else None
        html = render.page(self.rows, offset=page * self.page_rows, total=rows.height,
                           labels=arrow)
        with self.hold_sync():
            self.columns, self.pages, self.page = list(self.rows.columns), pages, page
            self.caption, self.html = self._caption, html


def page_of(rows: pl.DataFrame, key: list[str], sort: str | None, descending: bool,
            offset: int, n: int) -> pl.DataFrame:
    """``n`` rows from ``offset``: in the frame's order, or sorted by ``sort`` (ties by
    ``key``, else by the frame's order)."""
    if sort is None or rows.width == 0:
        return rows.slice(offset, n)
    if key:
        return top_rows(rows, key=key, sort_by=sort, descending=descending, n=n, offset=offset)
    indexed = rows.with_row_index("__row")
    return top_rows(indexed, key=["__row"], sort_by=sort, descending=descending, n=n,
                    offset=offset).drop("__row")
