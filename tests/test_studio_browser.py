"""The studio in a real browser (headless Chromium driven by Selenium): generate a melody, play it,
download it, and never ask any host but the studio's own for anything."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tunesmith.notes import read_midi
from tunesmith.studio.server import make_app

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def studio_url(tmp_path: Path):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(tmp_path / "runs", tmp_path / "studio"), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the studio did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch):
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        pytest.skip(f"chromium is not installed: no {' or '.join(missing)} (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    monkeypatch.setenv("SE_OFFLINE", "1")  # Selenium Manager must not download a driver
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.downloads = downloads
    yield driver
    driver.quit()


def requested_urls(driver) -> set[str]:
    """Every URL the page asked for: Chrome's network log and the page's own resource timings."""
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    urls |= set(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
    return urls


def test_generate_play_and_download_a_melody_in_a_browser(browser, studio_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(studio_url)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.body.dataset.ready"))
    Select(browser.find_element(By.ID, "gen-model")).select_by_value("melody-folk")
    length = browser.find_element(By.ID, "gen-length")
    length.clear()
    length.send_keys("32")
    browser.find_element(By.ID, "gen-seed").send_keys("3")
    browser.find_element(By.ID, "gen-go").click()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".result audio"))
    assert browser.find_element(By.CSS_SELECTOR, ".result canvas.roll").size["height"] > 100  # the piano roll

    browser.find_element(By.CSS_SELECTOR, ".result button.play").click()
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "const a = document.querySelector('.result audio'); return !a.paused && a.currentTime > 0.2"))

    browser.find_element(By.CSS_SELECTOR, ".result a.download").click()
    WebDriverWait(browser, 15).until(lambda d: list(d.downloads.glob("*.mid")))
    downloaded, = browser.downloads.glob("*.mid")
    assert downloaded.name == "melody-folk-sample.mid" and len(read_midi(downloaded).notes) > 0

    played_in = browser.execute_script(  # a take played in on a MIDI keyboard, as the page writes it
        "return Array.from(midiFile([[1000, 0x90, 60, 100], [1500, 0x80, 60, 0], [1500, 0x90, 64, 90], "
        "[2500, 0x90, 64, 0]]))")
    take = tmp_path / "played-in.mid"
    take.write_bytes(bytes(played_in))
    assert [(n["start"], n["end"], n["pitch"]) for n in read_midi(take).notes] == [(0, 1, 60), (1, 3, 64)]

    studio = urlsplit(studio_url).netloc
    outside = {url for url in requested_urls(browser) if urlsplit(url).scheme not in ("data", "blob")
               and urlsplit(url).netloc != studio}
    assert not outside, f"the page asked other hosts for {sorted(outside)}"

