"""report.html in a real headless Chromium: the video plays, the timeline seeks, no console errors."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.recording.recorder import Recorder
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (make setup installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver (make setup installs them)")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_report_timeline_seeks_the_video(make_env, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = make_env(task="stack", seed=3, image_size=(120, 160), modalities=("rgb",))
    recorder = Recorder(tmp_path, fps=20)
    agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe, tracer=recorder)
    result = agent.run(env, seed=3)
    paths = recorder.finish(vars(result) | {"planner": result.planner})
    n_events = len(paths["trace"].read_text().splitlines())

    browser.get(paths["report"].as_uri())
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.execute_script("return document.getElementById('video').readyState >= 1"))
    duration = browser.execute_script("return document.getElementById('video').duration")
    assert duration > 0
    items = browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")
    assert len(items) == n_events
    events = [json.loads(line) for line in paths["trace"].read_text().splitlines()]
    late = max(range(n_events), key=lambda i: events[i]["frame"])
    assert events[late]["frame"] > 0
    before = browser.execute_script("return document.getElementById('video').currentTime")
    items[late].find_element(By.CSS_SELECTOR, ".kind").click()
    wait.until(lambda d: d.execute_script("return document.getElementById('video').currentTime") != before)
    now = browser.execute_script("return document.getElementById('video').currentTime")
    assert now == pytest.approx(events[late]["frame"] / 20, abs=0.06)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
