"""A whole conversation in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven
by selenium) on the chat page of `make run` without BOT_TOKEN, with the real bot and the real engine
(smallest sizes, the draft recipe). Upload a photo, tap a preset, watch the status message being edited,
get the painting and the full-resolution file; use the command menu; a bad upload gets the bot's answer.

CI (.ci/run) installs Chromium; there (CI=true) a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from bot.i18n import ENGLISH
from drawme.decoding import ImageCode
from tests.bot.conftest import photo_bytes
from tests.playground.conftest import Service

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FAST = {"PAINT_SIZES": "64,64,64", "PAINT_RECIPE": "draft", "EDIT_INTERVAL": "0.3", "BOT_POLL_SECONDS": "0.2",
        "POLL_SECONDS": "0.2"}
# Every message on the page, read in one go (elements are redrawn on each edit).
MESSAGES_JS = """return [...document.querySelectorAll('.msg')].map(m => ({
    id: Number(m.dataset.id), from: m.classList.contains('bot') ? 'bot' : 'user',
    text: (m.querySelector('.text') || {}).textContent || '',
    edited: (m.querySelector('.meta') || {}).textContent.startsWith('edited'),
    photo: m.querySelector('img.photo') ? m.querySelector('img.photo').naturalWidth : null,
    document: m.querySelector('a.document') ? m.querySelector('a.document').href : null,
    download: m.querySelector('a.document') ? m.querySelector('a.document').download : null,
    buttons: [...m.querySelectorAll('.keyboard button')].map(b => b.textContent)}))"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; .ci/run installs it, and in CI this test must run")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=800,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(driver: Any, predicate: Callable[[list[dict]], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    messages: list[dict] = []
    while time.monotonic() < deadline:
        messages = driver.execute_script(MESSAGES_JS)
        if value := predicate(messages):
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; the page shows {messages[-4:]}")


def bot_messages(messages: list[dict], after: int = 0) -> list[dict]:
    return [m for m in messages if m["from"] == "bot" and m["id"] > after]


def test_a_whole_conversation_in_headless_chromium(
    browser: Any, start_service: Callable[..., Service], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    service = start_service(**FAST)
    browser.get(service.url + "/")
    assert "Local preview" in browser.find_element(By.ID, "notice").text

    # The command menu the bot registered; typing /he and Enter sends /help.
    wait(browser, lambda _: browser.execute_script("return commands.length"), "the command menu", 90)
    browser.find_element(By.ID, "menu-button").click()
    assert "/styles" in browser.find_element(By.ID, "menu").text
    field = browser.find_element(By.ID, "text")
    field.send_keys("/he")
    assert browser.find_element(By.ID, "menu").text.startswith("/help")
    field.send_keys(Keys.ENTER)
    wait(browser, lambda ms: any("/weights" in m["text"] for m in bot_messages(ms)), "the help text")

    # A photo; the bot offers the presets; tap Starry Night.
    photo = tmp_path / "me.jpg"
    photo.write_bytes(photo_bytes())
    browser.find_element(By.ID, "file").send_keys(str(photo))
    wait(browser, lambda ms: any(m["from"] == "user" and m["photo"] for m in ms), "my photo on the page")
    offer = wait(browser, lambda ms: [m for m in bot_messages(ms) if m["buttons"]], "the preset buttons")[-1]
    tap = browser.find_element(By.XPATH, f"//div[@data-id='{offer['id']}']//button[contains(., 'Starry')]")
    tap.click()

    # The status, kept up to date as the engine paints (edited in place, or moved to a message with the
    # first preview), until the painting replaces it: the page shows more than one stage of it.
    seen: set[str] = set()

    def painting(messages: list[dict]) -> dict | None:
        for m in bot_messages(messages, after=offer["id"]):
            if m["photo"] and "In the style of" in m["text"]:
                return m
            if m["text"].startswith("🎨 Painting"):
                seen.add(m["text"])
        return None

    result = wait(browser, painting, "the painting", timeout=240)
    assert len(seen) >= 2, f"expected live progress, saw {seen}"
    assert result["photo"] > 0  # the picture really loaded in the browser

    # Full resolution: the bot sends the PNG as a file the page offers for download.
    browser.find_element(
        By.XPATH, f"//div[@data-id='{result['id']}']//button[contains(., 'Full resolution')]"
    ).click()
    document = wait(browser, lambda ms: [m for m in bot_messages(ms) if m["document"]], "the file")[0]
    assert document["download"].endswith(".png")
    with urllib.request.urlopen(document["document"], timeout=10) as response:
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"

    # A file that is not a picture: the bot says so, in the chat.
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    last = max(m["id"] for m in browser.execute_script(MESSAGES_JS))
    browser.find_element(By.ID, "file").send_keys(str(bad))
    answer = wait(browser, lambda ms: bot_messages(ms, after=last), "the answer to a bad upload")[0]
    assert answer["text"] == texts.image_code(ENGLISH, ImageCode.NOT_AN_IMAGE)

    browser.save_screenshot(str(tmp_path / "playground.png"))
    assert service.stop() == 0
