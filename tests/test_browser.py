"""A real browser: JupyterLab on a free loopback port, notebook 01 in headless Chromium.

Playwright drives Debian's ``/usr/bin/chromium`` (no Playwright browser download). The test runs
every cell, moves the history scrubber and checks that its state table and chart changed, then
checks the read-model comparison's counts and opens one of its rows. Screenshots go to
``test-artifacts/browser/``. ``EVENTLAB_UPDATE_SCREENSHOT=1`` also refreshes
``docs/scrubber.png`` (the README's picture).

Without chromium or playwright the test is skipped, except under CI (``CI=true``), where
``.ci/run`` installs chromium and a skip would hide a broken setup: there it fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import eventlab as el
from eventlab.importers import import_file
from eventlab.samples import FINES_SPEC, ROAD_FINES

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOCS_SCREENSHOT = ROOT / "docs" / "scrubber.png"
NOTEBOOK = "01_quickstart.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 1600}  # tall, so a whole widget fits on screen
#: EVENTLAB_BROWSER_SLACK=3 stretches every wait (a machine shared with other heavy jobs);
#: CI keeps the budgets as they are.
SLACK = float(os.environ.get("EVENTLAB_BROWSER_SLACK", "1"))
BUDGET = 90.0 * SLACK  # seconds for one notebook in the browser (page load, run all, clicks)
SERVER_START = 30.0 * SLACK
TEST_TIMEOUT = int(150 * SLACK)

pytestmark = [pytest.mark.browser]


def need(condition: bool, reason: str) -> None:
    """Skip when a browser prerequisite is missing, but fail under CI."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    need(Path(path).exists(), "Debian's chromium is not installed")
    return path


class Deadline:
    """One time budget shared by every wait of the test."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def ms(self, cap: float = 30.0) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the browser test ran out of its time budget")
        return min(left, cap * SLACK) * 1000


# --------------------------------------------------------------------------- JupyterLab
@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the Jupyter server's REST API (token auth, so no XSRF cookie is needed)."""
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lab_command(port: int, token: str, root: Path, home: Path) -> list[str]:
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    return command + (["--allow-root"] if os.geteuid() == 0 else [])


def isolated_home(home: Path) -> dict[str, str]:
    """Jupyter config, data, runtime and IPython folders of our own: no user settings, no
    user kernels, no news pop-up, and no notebook windowing (off-screen cells stay rendered)."""
    for sub in ("config/labconfig", "data", "runtime", "settings", "workspaces", "ipython"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (home / "config" / "labconfig" / "page_config.json").write_text(json.dumps(page_config))
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)  # every cell stays in the DOM (no windowing)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
    }


def wait_for_server(lab: Lab, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + SERVER_START
    while time.monotonic() < end:
        if process.poll() is not None:
            tail = lab.log.read_text()[-3000:]
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{tail}")
        try:
            lab.api("status")
            return
        except OSError:
            time.sleep(0.2)  # polling a port that is not open yet; no DOM to wait on
    tail = lab.log.read_text()[-3000:]
    pytest.fail(f"JupyterLab did not answer within {SERVER_START:.0f} s:\n{tail}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    chromium()
    playwright_api()
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "jupyterlab.log"
    port, token = free_port(), secrets.token_hex(16)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            lab_command(port, token, root, base / "home"), env=isolated_home(base / "home"),
            stdout=sink, stderr=subprocess.STDOUT, cwd=base,
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        wait_for_server(lab, process)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --------------------------------------------------------------------------- page helpers
KERNEL_IDLE = """() => {
    const panel = window.jupyterapp?.shell?.currentWidget;
    const kernel = panel?.sessionContext?.session?.kernel;
    return Boolean(panel?.context?.isReady && kernel && kernel.status === 'idle');
}"""
ALL_RAN = """() => {  // every code cell ran, or one failed (JupyterLab then skips the rest)
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const failed = panel.node.querySelector(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    return panel.sessionContext.session.kernel.status === 'idle'
        && (failed !== null || cells.every(c => c.model.executionCount !== null));
}"""
CELL_INDEX = """(marker) => window.jupyterapp.shell.currentWidget.content.widgets
    .findIndex(c => c.model.type === 'code' && c.model.sharedModel.source.includes(marker))"""
ERRORS = """() => [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr'
                 && /Error|Traceback/.test(o.textContent))
    .map(o => o.textContent.slice(0, 2000))"""
RENDER_PROBLEMS = """() => {  // outputs that did not render as widgets or charts (yet)
    const problems = [];
    for (const out of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
        const text = out.textContent;
        if (/Error displaying widget|Loading widget/.test(text))
            problems.push('widget not rendered: ' + text.slice(0, 200));
        if (/^\\s*(alt\\.\\w*Chart\\(\\.\\.\\.\\)|<altair\\.)/.test(text))
            problems.push('chart shown as text: ' + text.slice(0, 200));
    }
    for (const embed of document.querySelectorAll('.jp-Notebook .vega-embed'))
        if (!embed.querySelector('svg, canvas')) problems.push('chart without a picture');
    return problems;
}"""
PICTURE = """(embed) => {
    const svg = embed.querySelector('svg');
    if (svg) return svg.outerHTML;
    const canvas = embed.querySelector('canvas');
    return canvas ? canvas.toDataURL() : '';
}"""
RULE_X = """(embed) => {  // where the scrubber's red rule is drawn (svg renderer), or null
    const rule = embed.querySelector('.mark-rule [stroke="#d62728"]');
    return rule ? rule.getBoundingClientRect().x : null;
}"""
KEY_VALUES = """(table) => Object.fromEntries([...table.querySelectorAll('tbody tr')]
    .filter(r => r.querySelectorAll('td').length === 2)
    .map(r => [r.querySelectorAll('td')[0].textContent.trim(),
               r.querySelectorAll('td')[1].textContent.trim()]))"""
CELLS = """(box) => {  // a FrameTable on screen: header texts and body rows as cell texts
    const table = box.querySelector('.eventlab-table table');
    if (!table) return {header: [], rows: []};
    const text = (cells) => [...cells].map(c => c.textContent.trim());
    return {header: text(table.querySelectorAll('thead tr:last-child th')),
            rows: [...table.querySelectorAll('tbody tr')].map(r => text(r.querySelectorAll('td'))),
            align: [...table.querySelectorAll('tbody tr:first-child td')]
                .map(c => getComputedStyle(c).textAlign)};
}"""
SCROLLS = """(box) => {  // the table's box scrolls inside the widget when the table is wider
    const scroll = box.querySelector('.eventlab-scroll');
    return {overflow: getComputedStyle(scroll).overflowX, inner: scroll.scrollWidth,
            outer: scroll.clientWidth, widget: box.getBoundingClientRect().width};
}"""
SVG_TEXTS = """(embed) => [...embed.querySelectorAll('svg text')].map(t => t.textContent.trim())"""
STATE_CAPTION = re.compile(r"state: [\d,]+ rows? at this point")


def cell_output(page: Any, marker: str) -> Any:
    """The output area of the code cell whose source contains ``marker``."""
    index = page.evaluate(CELL_INDEX, marker)
    assert index >= 0, f"no cell of {NOTEBOOK} contains {marker!r}"
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")


def html_with(output: Any, text: str) -> Any:
    """The HTML widget inside ``output`` whose text contains ``text`` (one of them)."""
    return output.locator(".widget-html-content", has_text=text).first


def widget_screenshot(page: Any, output: Any, path: Path, max_height: int = 1500) -> None:
    """A picture of the first widget in ``output``, scrolled to the top of the screen."""
    widget = output.locator(".jupyter-widgets.widget-vbox").first
    widget.evaluate("element => element.scrollIntoView({block: 'start'})")
    box = widget.bounding_box()
    assert box is not None, "the widget is not displayed"
    page.screenshot(path=path, clip={**box, "height": min(box["height"], max_height)})


def run_all_cells(page: Any, lab: Lab, deadline: Deadline, notebook: str = NOTEBOOK) -> None:
    """Open ``notebook``, run every cell once the kernel is idle, and check that nothing failed
    and every widget and chart rendered."""
    workspace = notebook.split("_")[0]  # a workspace per notebook: no other tabs are restored
    page.goto(f"{lab.url}/lab/workspaces/nb{workspace}/tree/{notebook}?token={lab.token}",
              timeout=deadline.ms())
    page.wait_for_function(KERNEL_IDLE, timeout=deadline.ms())
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_RAN, timeout=deadline.ms(60), polling=250)
    errors = page.evaluate(ERRORS)
    assert not errors, f"cells of {notebook} raised in the browser:\n" + "\n".join(errors)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => ({RENDER_PROBLEMS})().length === 0",
                               timeout=deadline.ms(20), polling=250)
    except PlaywrightTimeout as exc:  # say what did not render
        problems = page.evaluate(RENDER_PROBLEMS)
        raise AssertionError(f"{notebook} did not render: {problems}") from exc


def expected_comparison() -> dict[str, int]:
    """The counts ReadModelCompare must show: v1 vs v2 of the fines read model, computed here
    with the library (v2 as in notebook 01: 'paid' once payments cover what is due)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = el.EventStore.create(Path(tmp) / "store")
        import_file(store, ROAD_FINES, stream_type="fine")
        v1 = store.project(FINES_SPEC, name="fines").state()
    due = v1["fined"] + v1["penalties"] + v1["expenses"]
    paid = (v1["paid"] > 0) & (v1["paid"] >= due)
    return {"changed": int((paid & (v1["status"] != "paid")).sum()), "only in v1": 0,
            "only in v2": 0}


def shown_counts(output: Any) -> dict[str, int]:
    values = html_with(output, "only in v1").evaluate(KEY_VALUES)
    return {k: int(v.replace(",", "")) for k, v in values.items()
            if k in ("only in v1", "only in v2", "changed")}


def playwright_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        need(False, "the playwright Python package is not installed")
    return sync_api


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    sync_api = playwright_api()
    with sync_api.sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield chrome
        finally:
            chrome.close()


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; afterwards its screenshot, JavaScript errors and a kernel shutdown."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    try:
        yield page
    finally:
        name = request.node.name.replace("/", "_")
        page.screenshot(path=ARTIFACTS / f"{name}.png")
        (ARTIFACTS / f"{name}.page-errors.txt").write_text("\n".join(errors))
        page.close()
        shutdown_kernels(lab)


def shutdown_kernels(lab: Lab) -> None:
    """Stop every kernel the page started (the REST API), so the next notebook has the CPU."""
    for session in lab.api("sessions"):
        lab.api(f"sessions/{session['id']}", method="DELETE")
    assert lab.api("kernels") == [], "a kernel survived its notebook"


def record_time(name: str, seconds: float) -> None:
    times = ARTIFACTS / "times.json"
    record = json.loads(times.read_text()) if times.exists() else {}
    record[name] = round(seconds, 1)
    times.write_text(json.dumps(record, indent=1, sort_keys=True))


# --------------------------------------------------------------------------- the tests
@pytest.mark.timeout(TEST_TIMEOUT)
def test_quickstart_scrubber_and_comparison(lab: Lab, page: Any) -> None:
    expected = expected_comparison()
    deadline = Deadline(BUDGET)
    started = time.monotonic()
    run_all_cells(page, lab, deadline)
    record_time("01 run all cells", time.monotonic() - started)
    check_scrubber(page, deadline)
    check_comparison(page, deadline, expected)
    record_time("01 whole test", time.monotonic() - started)


OTHERS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if p.name != NOTEBOOK)


@pytest.mark.timeout(TEST_TIMEOUT)
@pytest.mark.parametrize("notebook", OTHERS, ids=[n.split("_")[0] for n in OTHERS])
def test_notebook_renders(lab: Lab, page: Any, notebook: str) -> None:
    """Every other notebook runs in the browser and all its widgets and charts render."""
    started = time.monotonic()
    run_all_cells(page, lab, Deadline(BUDGET), notebook)
    record_time(f"{notebook[:2]} run all cells", time.monotonic() - started)


def frame_table(output: Any, caption: Any) -> Any:
    """The FrameTable in ``output`` whose caption matches ``caption`` (text or regex)."""
    return output.locator(".eventlab-frametable").filter(
        has=output.page.locator(".eventlab-caption", has_text=caption)).first


def wait_for_cells(page: Any, box: Any, condition: str, deadline: Deadline) -> Any:
    """Wait until ``condition`` (JS over ``cells``, see CELLS) holds for the table in ``box``;
    return the cells."""
    page.wait_for_function(f"(box) => {{ const cells = ({CELLS})(box); return {condition}; }}",
                           arg=box.element_handle(), timeout=deadline.ms())
    return box.evaluate(CELLS)


def by_id(cells: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(cells["header"], row, strict=True)) for row in cells["rows"]}


def check_scrubber(page: Any, deadline: Deadline) -> None:
    output = cell_output(page, "HistoryScrubber(")
    handle = output.locator(".widget-slider .noUi-handle").first
    handle.wait_for(timeout=deadline.ms())
    table = frame_table(output, STATE_CAPTION)
    table.locator("table").first.wait_for(timeout=deadline.ms())
    embed = output.locator(".vega-embed").first
    embed.locator("svg").first.wait_for(timeout=deadline.ms())
    widget_screenshot(page, output, ARTIFACTS / "scrubber-start.png")
    first_table, first_chart = table.inner_html(), embed.evaluate(PICTURE)
    first_rule = embed.evaluate(RULE_X)
    assert first_rule is not None, "the metric chart has no red rule at the current point"
    assert "state: 1 row at this point" in (table.text_content() or ""), "starts at one fine"
    assert "outstanding EUR" in embed.evaluate(SVG_TEXTS), "the axis names the metric"

    handle.focus()
    page.keyboard.press("End")  # the last month: every fine exists by then
    page.wait_for_function(
        "([el, before]) => el.innerHTML !== before && /state: 100 rows/.test(el.textContent)",
        arg=[table.element_handle(), first_table], timeout=deadline.ms(),
    )
    page.wait_for_function(f"([embed, x]) => ({RULE_X})(embed) > x + 100",  # the rule moved
                           arg=[embed.element_handle(), first_rule], timeout=deadline.ms())
    assert embed.evaluate(PICTURE) != first_chart
    cells = wait_for_cells(page, table, "cells.rows.length === 10", deadline)
    assert cells["header"][:2] == ["stream_id", "events"] and "outstanding ▼" in cells["header"]
    rows = by_id(cells)
    assert cells["rows"][0][0] == "C18200"  # sorted by outstanding, most first
    assert rows["C18200"]["outstanding ▼"] == "429.50"  # padded to the column's decimals
    assert rows["V5222"]["outstanding ▼"] == "386.98"  # the old .4g format showed 387
    assert rows["V5222"]["fined"] == "125.19"
    column = cells["header"].index("outstanding ▼")
    assert cells["align"][column] == "right" and cells["align"][0] == "left"
    assert "rows 1–10 of 100" in (table.text_content() or "")
    widget_screenshot(page, output, ARTIFACTS / "scrubber-end.png")

    table.locator("thead th", has_text="stream_id").click()  # a header click sorts by it
    cells = wait_for_cells(page, table, "cells.rows.length && cells.rows[0][0] === 'A10466'",
                           deadline)
    assert "stream_id ▲" in cells["header"] and by_id(cells)["A10466"]["events"] == "5"
    table.locator(".eventlab-next").click()  # the pager: the next ten fines
    page.wait_for_function("(el) => /rows 11–20 of 100/.test(el.textContent)",
                           arg=table.element_handle(), timeout=deadline.ms())
    if os.environ.get("EVENTLAB_UPDATE_SCREENSHOT"):  # the README's picture: mid-history
        update_readme_picture(page, output, handle, table, deadline)


def update_readme_picture(page: Any, output: Any, handle: Any, table: Any,
                          deadline: Deadline) -> None:
    table.locator("thead th", has_text="outstanding").click()
    table.locator("thead th", has_text="outstanding").click()  # most outstanding first
    before = table.inner_html()
    handle.focus()
    for _ in range(12):
        page.keyboard.press("PageDown")
    page.wait_for_function("([el, before]) => el.innerHTML !== before",
                           arg=[table.element_handle(), before], timeout=deadline.ms())
    idle = "() => window.jupyterapp.shell.currentWidget.sessionContext.session"
    page.wait_for_function(idle + ".kernel.status === 'idle'", timeout=deadline.ms())
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    widget_screenshot(page, output, DOCS_SCREENSHOT, max_height=860)


def check_comparison(page: Any, deadline: Deadline, expected: dict[str, int]) -> None:
    output = cell_output(page, "ReadModelCompare(")
    output.scroll_into_view_if_needed()
    html_with(output, "only in v1").wait_for(timeout=deadline.ms())
    assert expected["changed"] > 0, "the comparison should have differences to show"
    assert shown_counts(output) == expected
    embed = output.locator(".vega-embed").first
    embed.locator("svg").first.wait_for(timeout=deadline.ms())
    texts = embed.evaluate(SVG_TEXTS)
    title = f"only in v1: 0 · only in v2: 0 · changed: {expected['changed']:,}"
    assert title in texts and "rows whose value differs between v1 and v2" in texts
    ticks = [t for t in texts if re.fullmatch(r"[\d.,]+", t)]
    assert ticks and all(re.fullmatch(r"\d[\d,]*", t) for t in ticks), ticks  # whole counts
    rows = frame_table(output, "rows (changed)")
    caption = rows.locator(".eventlab-caption").text_content() or ""
    assert caption == f"{expected['changed']:,} rows (changed)"
    cells = wait_for_cells(page, rows, "cells.rows.length > 0", deadline)
    first_id = cells["rows"][0][0]
    status = cells["header"].index("status_b")
    assert cells["rows"][0][status] == "paid"  # v2 calls a fully paid fine paid
    picker = output.locator(".widget-dropdown", has_text="open row").locator("select")
    picker.select_option(index=0)
    page.wait_for_function(  # the stream inspector opens on that fine
        "([root, id]) => [...root.querySelectorAll('.widget-text input')]"
        ".some(i => i.value === id)",
        arg=[output.element_handle(), first_id], timeout=deadline.ms(),
    )
    check_inspector(page, output, first_id, deadline)
    widget_screenshot(page, output, ARTIFACTS / "comparison.png")


def check_inspector(page: Any, output: Any, stream_id: str, deadline: Deadline) -> None:
    """The inspector's events: one row per event of the fine, times in one format, and a wide
    table that scrolls inside the widget instead of being cut off at its edge."""
    events = frame_table(output, re.compile(r"^\d+ events$"))
    cells = wait_for_cells(page, events, "cells.rows.length > 0", deadline)
    assert cells["header"][:4] == ["stream_type", "stream_id", "position", "version"]
    assert {row[1] for row in cells["rows"]} == {stream_id}
    when = cells["header"].index("occurred_at")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[when])
               for row in cells["rows"]), cells["rows"]
    box = events.evaluate(SCROLLS)
    assert box["overflow"] == "auto" and box["inner"] > box["outer"], box  # it scrolls
    assert box["outer"] <= box["widget"] + 1, box  # and is not wider than the widget
