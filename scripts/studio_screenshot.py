#!/usr/bin/env python3
"""Take the README's picture of the studio (docs/studio.png, 1280x900): start `tunesmith studio`
on a free port with a scratch folder, generate two melodies with the bundled melody-folk in
headless Chromium, start playing the first, and save the page.

    .venv/bin/python scripts/studio_screenshot.py [--out docs/studio.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1280, 900


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio(folder: Path, port: int) -> subprocess.Popen:
    studio = subprocess.Popen([sys.executable, "-m", "tunesmith", "studio", "--no-browser", "--port", str(port),
                               "--folder", str(folder / "studio"), "--runs", str(folder / "runs")],
                              stdout=subprocess.PIPE, text=True)
    line = studio.stdout.readline()  # "tunesmith studio: URL ..." once it answers
    if "http://" not in line:
        studio.kill()
        sys.exit(f"the studio did not start: {line.strip() or 'no output'}")
    return studio


def browser() -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "1"  # no Selenium Manager downloads
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    return driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "studio.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        studio = start_studio(Path(scratch), port)
        driver = browser()
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            Select(driver.find_element(By.ID, "gen-model")).select_by_value("melody-folk")
            for field, value in (("gen-length", "64"), ("gen-outputs", "2"), ("gen-seed", "11"),
                                 ("gen-temperature", "0.9")):
                driver.find_element(By.ID, field).clear()
                driver.find_element(By.ID, field).send_keys(value)
            driver.find_element(By.ID, "gen-go").click()
            WebDriverWait(driver, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result audio")) == 2)
            driver.find_element(By.CSS_SELECTOR, ".result button.play").click()
            time.sleep(2.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
            print(f"wrote {args.out}")
        finally:
            driver.quit()
            studio.terminate()
            studio.wait(10)


if __name__ == "__main__":
    main()
