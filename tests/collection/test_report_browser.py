"""The report as a user sees it: opened from a file in headless Chromium, driven by clicks.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium
(the test extra). Every test ends by reading the browser's console: any error there (a script
error, a Content-Security-Policy refusal) fails it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audiolens.report import build_report
from audiolens.report.collect import shown
from audiolens.store import Store

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)",
)

#: the table as the page shows it: per row, each cell's text (the file cell: its full path)
_TABLE = """
return Array.from(document.querySelectorAll('#files tbody tr')).map(function (tr) {
  return Array.from(tr.cells).map(function (td) { return td.title || td.textContent; });
});
"""


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(collection, tmp_path_factory) -> Path:
    return build_report(collection.db, tmp_path_factory.mktemp("page") / "report.html").page


def _open(browser, page: Path, fragment: str = "") -> None:
    browser.get(page.as_uri() + fragment)
    assert browser.execute_script("return document.documentElement.dataset.ready") == "true"


def _click_open(browser, element) -> None:
    """Click a row (or its cell) and wait for its detail view: the page draws it when the
    address's ``#file=`` changes, which the browser reports after the click has returned."""
    element.click()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "detail").is_displayed())


def _no_console_errors(browser) -> None:
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _columns(browser) -> list[str]:
    return [
        th.get_attribute("data-key")
        for th in browser.find_elements(By.CSS_SELECTOR, "th[data-key]")
    ]


def _table(browser) -> list[dict[str, str]]:
    keys = _columns(browser)
    return [dict(zip(keys, cells)) for cells in browser.execute_script(_TABLE)]


def _stored(db: Path) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    with Store(db, create=False) as store:
        for row in store.rows():
            out.setdefault(shown(row.path), {})[row.task] = row
    return out


def test_the_rows_are_the_stores_files(browser, collection, page):
    _open(browser, page)
    table = _table(browser)
    stored = _stored(collection.db)
    assert sorted(r["file"] for r in table) == sorted(stored)
    assert browser.find_element(By.ID, "count").text == f"{len(stored)} files"
    for row in table:
        quality = stored[row["file"]].get("quality")
        want = quality.result["verdict"] if quality is not None and quality.result else ""
        assert row["verdict"] == want, row["file"]
    _no_console_errors(browser)


def test_sorting_by_clicks(browser, page):
    _open(browser, page)
    header = browser.find_element(By.CSS_SELECTOR, 'th[data-key="tempo"] button')
    header.click()
    tempos = [r["tempo"] for r in _table(browser)]
    numbers = [float(t) for t in tempos if t]
    assert len(numbers) >= 4 and numbers == sorted(numbers)
    assert tempos == [t for t in tempos if t] + [t for t in tempos if not t]  # blanks last
    th = browser.find_element(By.CSS_SELECTOR, 'th[data-key="tempo"]')
    assert th.get_attribute("aria-sort") == "ascending"
    header.click()
    again = [float(r["tempo"]) for r in _table(browser) if r["tempo"]]
    assert again == sorted(numbers, reverse=True) and th.get_attribute("aria-sort") == "descending"
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="file"] button').click()
    files = [r["file"] for r in _table(browser)]
    assert files[0] < files[-1] and len(files) == len(set(files))
    _no_console_errors(browser)


def test_filtering_by_clicks_and_typing(browser, collection, page):
    _open(browser, page)
    stored = _stored(collection.db)
    transcodes = {
        p for p, rows in stored.items()
        if "quality" in rows and (rows["quality"].result or {}).get("verdict") == "transcode"
    }  # fmt: skip
    Select(
        browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Filter Verdict"]')
    ).select_by_visible_text("transcode")
    assert {r["file"] for r in _table(browser)} == transcodes and len(transcodes) >= 3
    assert browser.find_element(By.ID, "count").text == f"{len(transcodes)} of {len(stored)} files"
    browser.find_element(By.ID, "clear").click()
    tempo = {
        p: rows["beats"].result["tempo"]
        for p, rows in stored.items()
        if "beats" in rows and rows["beats"].result and rows["beats"].result.get("tempo")
    }
    low = round(min(tempo.values())) - 1  # every file with a tempo passes, the others not
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Filter Tempo"]').send_keys(f">{low}")
    fast = _table(browser)
    assert {r["file"] for r in fast} == set(tempo) and 3 <= len(fast) < len(stored)
    assert all(float(r["tempo"]) > low for r in fast)
    browser.find_element(By.ID, "clear").click()
    browser.find_element(By.ID, "search").send_keys("onerror")
    (only,) = _table(browser)
    assert only["file"].endswith("/<img src=x onerror=alert(1)>.flac")
    browser.find_element(By.ID, "clear").click()
    assert len(_table(browser)) == len(stored)
    # a bar of the summary filters the table too
    browser.find_element(
        By.CSS_SELECTOR, 'button[data-filter="verdict"][data-value="lossless"]'
    ).click()
    assert {r["verdict"] for r in _table(browser)} == {"lossless"}
    _no_console_errors(browser)


def test_the_detail_view_opens_and_draws_the_beats(browser, collection, page):
    _open(browser, page)
    target = shown(str(collection.music / "song_lossless.flac"))
    row = next(
        tr for tr in browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")
        if tr.find_element(By.CSS_SELECTOR, "td.file").get_attribute("title") == target
    )  # fmt: skip
    _click_open(browser, row)
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    assert detail.find_element(By.TAG_NAME, "h2").text == "song_lossless.flac"
    sections = [h.text.split()[0] for h in detail.find_elements(By.TAG_NAME, "h3")]
    assert sections[:4] == ["timeline", "quality", "beats", "structure"]
    assert {"key", "loudness"} <= set(sections)
    with Store(collection.db, create=False) as store:
        beats = store.get(collection.music / "song_lossless.flac", "beats").result
        key = store.get(collection.music / "song_lossless.flac", "key").result
        loudness = store.get(collection.music / "song_lossless.flac", "loudness").result
    assert f"{loudness['integrated_lufs']:.2f} LUFS" in detail.text
    assert f"{key['camelot']} / {key['open_key']}" in detail.text
    downbeat_lines = detail.find_elements(By.CSS_SELECTOR, 'svg.timeline line[stroke="#b3261e"]')
    assert len(downbeat_lines) == len(beats["downbeats"]) > 0
    assert "lossless" in detail.text
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert not detail.is_displayed()
    if collection.speech is not None:
        _open(browser, page)
        browser.find_element(By.ID, "search").send_keys("jfk")
        _click_open(browser, browser.find_element(By.CSS_SELECTOR, "#files tbody tr"))
        transcript = browser.find_element(By.CSS_SELECTOR, "#detail .transcript").text
        assert "ask not what your country can do for you" in transcript
    _no_console_errors(browser)


def test_decode_warnings_show_in_the_summary_and_the_detail_view(browser, page):
    _open(browser, page)
    cards = browser.find_elements(By.CSS_SELECTOR, "#summary .card")
    warned = next(c for c in cards if c.find_element(By.TAG_NAME, "h2").text == "Decode warnings")
    assert "its header claims" in warned.find_element(By.CSS_SELECTOR, ".warning").text
    browser.find_element(By.ID, "search").send_keys("truncated")
    _click_open(browser, browser.find_element(By.CSS_SELECTOR, "#files tbody tr"))
    shown_warnings = browser.find_elements(By.CSS_SELECTOR, "#detail p.warning")
    assert shown_warnings and all("its header claims" in p.text for p in shown_warnings)
    _no_console_errors(browser)


def test_hostile_names_show_as_text_and_run_nothing(browser, collection, page):
    _open(browser, page)
    browser.find_element(By.ID, "search").send_keys("onerror")
    cell = browser.find_element(By.CSS_SELECTOR, "#files tbody tr td.file")
    assert cell.find_element(By.CSS_SELECTOR, ".name").text == "<img src=x onerror=alert(1)>.flac"
    _click_open(browser, cell)
    assert browser.find_element(By.CSS_SELECTOR, "#detail h2").text == (
        "<img src=x onerror=alert(1)>.flac"
    )
    assert browser.find_elements(By.TAG_NAME, "img") == []  # no element was made of a name
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert browser.title == "audiolens report: music.sqlite"
    browser.find_element(By.ID, "close").click()
    assert not browser.find_element(By.ID, "detail").is_displayed()
    browser.find_element(By.ID, "clear").click()
    files = [r["file"] for r in _table(browser)]
    music = shown(str(collection.music))
    for name in ("caf\\xe9 \\xff.flac", "quote\"it's\\nnewline.mp3", "evil\\u202egalf.mp3",
                 "a</script>.flac"):  # fmt: skip
        assert f"{music}/{name}" in files
    _no_console_errors(browser)


def test_paging_through_a_larger_store(browser, collection, tmp_path):
    """120 copies of the real quality results: 100 rows per page, sorted across pages."""
    db = tmp_path / "many.sqlite"
    with Store(collection.db, create=False) as store, Store(db) as many:
        real = [r for r in store.rows(task="quality") if r.status == "ok"]
        for i in range(120):
            row = real[i % len(real)]
            row.path, row.run_id = f"/library/{i:03d}.flac", None
            many.write_file([row])
    _open(browser, build_report(db, tmp_path / "many.html").page)
    assert browser.find_element(By.ID, "page").text == "page 1 of 2"
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="confidence"] button').click()
    first = [float(r["confidence"]) for r in _table(browser)]
    browser.find_element(By.ID, "next").click()
    second = [float(r["confidence"]) for r in _table(browser)]
    assert (len(first), len(second)) == (100, 20) and first + second == sorted(first + second)
    assert browser.find_element(By.ID, "page").text == "page 2 of 2"
    assert not browser.find_element(By.ID, "next").is_enabled()
    _no_console_errors(browser)


def test_the_folder_forms_pictures_load_under_the_policy(browser, collection, tmp_path):
    pytest.importorskip("matplotlib")
    info = build_report(collection.db, f"{tmp_path / 'rep'}/")
    assert info.pictures_drawn > 0
    _open(browser, info.page)
    browser.find_element(By.ID, "search").send_keys("song_fake")
    _click_open(browser, browser.find_element(By.CSS_SELECTOR, "#files tbody tr"))
    images = browser.find_elements(By.CSS_SELECTOR, "#detail .pictures img")
    # the spectrogram, the waveform with the beats and sections, and the piano roll
    assert len(images) == (3 if "notes" in collection.tasks else 2)
    alts = {img.get_attribute("alt") for img in images}
    assert "waveform with the beats and sections" in alts
    for img in images:
        browser.execute_script("arguments[0].scrollIntoView()", img)
        loaded = browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", img
        )
        assert loaded and loaded > 100
    _no_console_errors(browser)
