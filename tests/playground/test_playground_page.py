"""The chat page's API, in-process: the real bot (PTB over HTTP) talks to the playground's emulator, the
test plays the browser (posts what the user sends, reads the live event stream), and a hand-driven
worker paints through the real job store."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot import texts
from bot.i18n import ENGLISH
from drawme.config import PLAYGROUND_SIZES, BotConfig, CommonConfig, PlaygroundConfig
from drawme.decoding import ImageCode
from drawme.playground.chat import Playground
from drawme.store import JobStore
from tests.bot.conftest import TEST_ENV, HandWorker, RunningBot, photo_bytes
from tests.playground.conftest import PageEvents, free_port


@pytest.fixture
async def playground() -> AsyncIterator[Playground]:
    server = Playground(PlaygroundConfig(port=free_port()))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(playground: Playground, store: JobStore, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot configured exactly as the supervisor configures it for the playground."""
    env = {**playground.bot_env(), "DATA_DIR": str(tmp_path), **TEST_ENV}
    running = await RunningBot(BotConfig.from_env(env), store).start()
    yield running
    await running.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    store = await JobStore.open(CommonConfig.from_env({"DATA_DIR": str(tmp_path), **TEST_ENV}))
    yield store
    await store.close()


async def send(url: str, text: str = "", files: list[tuple[str, bytes, str]] = ()) -> dict:
    form = aiohttp.FormData()
    if text:
        form.add_field("text", text)
    for name, data, mime in files:
        form.add_field("file", data, filename=name, content_type=mime)
    async with aiohttp.ClientSession() as session, session.post(f"{url}/api/send", data=form) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def press(url: str, message_id: int, data: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/api/press", json={"message_id": message_id, "data": data}) as response,
    ):
        return response.status


async def share(url: str) -> dict:
    """Tap a Share button: what the bot offers in inline mode, as the page lists it."""
    async with aiohttp.ClientSession() as session, session.post(f"{url}/api/inline") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def fetch(url: str) -> tuple[bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.read(), dict(response.headers)


async def test_the_page_serves_a_chat_that_says_it_is_a_local_preview(playground: Playground) -> None:
    page, headers = await fetch(playground.config.url + "/")
    assert "text/html" in headers["Content-Type"]
    assert b"Local preview" in page and b"/static/chat.js" in page
    script, _ = await fetch(playground.config.url + "/static/chat.js")
    assert b"EventSource" in script


async def test_command_menu_photo_preset_progress_painting_and_full_resolution(
    playground: Playground, bot: RunningBot, store: JobStore, tmp_path: Path
) -> None:
    url = playground.config.url
    worker = HandWorker(store, tmp_path)
    async with PageEvents(url) as page:
        # The menu the bot registered with setMyCommands, as the page got it on connecting.
        menu = [c["command"] for c in page.of("hello")[0]["commands"]]
        assert {"start", "styles", "help"} <= set(menu)

        photo = photo_bytes()
        await send(url, files=[("me.jpg", photo, "image/jpeg")])
        mine = await page.wait(lambda: page.messages("user"), "my photo")
        shown, _ = await fetch(url + mine[0]["photo"])
        assert shown == photo
        offer = await page.wait(lambda: [m for m in page.messages() if m["buttons"]], "the preset buttons")
        button = offer[0]["buttons"][0][0]
        assert "Starry Night" in button["text"]

        assert await press(url, offer[0]["id"], button["data"]) == 200
        await page.wait(lambda: page.of("toast"), "the tap's answer")
        status = await page.wait(
            lambda: [m for m in page.messages() if m["id"] > offer[0]["id"]], "the status message"
        )
        job = await worker.claim()
        await worker.progress(job, 10, preview_color="blue")
        preview = await page.wait(
            lambda: [m for m in page.messages() if m["photo"] and "33%" in m["text"]], "a preview"
        )
        await worker.progress(job, 20, preview_color="red")
        edited = await page.wait(
            lambda: [m for m in page.messages() if m.get("edited") and "66%" in m["text"]], "an edit"
        )
        assert edited[-1]["id"] == preview[-1]["id"]  # the same status message, edited live
        first, _ = await fetch(url + preview[-1]["photo"])
        second, _ = await fetch(url + edited[-1]["photo"])
        assert Image.open(io.BytesIO(first)).getpixel((5, 5))[2] > 150  # blue, then red
        assert Image.open(io.BytesIO(second)).getpixel((5, 5))[0] > 150

        painted = await worker.finish(job)  # the PNG's path (or, once job files are bytes, its bytes)
        expected = painted if isinstance(painted, bytes) else painted.read_bytes()
        result = await page.wait(
            lambda: [m for m in page.messages() if m["photo"] and "In the style of" in m["text"]],
            "the painting",
        )
        painting, headers = await fetch(url + result[0]["photo"])
        assert painting == expected and headers["Content-Type"] == "image/png"
        await page.wait(lambda: page.of("delete"), "the status message's removal")
        assert {e["id"] for e in page.of("delete")} >= {status[0]["id"]}

        full = next(b for row in result[0]["buttons"] for b in row if "Full resolution" in b["text"])
        assert await press(url, result[0]["id"], full["data"]) == 200
        document = await page.wait(
            lambda: [m for m in page.messages() if m["document"]], "the full-resolution file"
        )
        data, headers = await fetch(url + document[0]["document"]["url"])
        assert data == expected
        assert f'filename="drawme-{job.id}.png"' in headers["Content-Disposition"]
        assert document[0]["document"]["name"] == f"drawme-{job.id}.png"

        # Share: the page lists what the bot offers in inline mode, this very painting.
        shared = next(b for row in result[0]["buttons"] for b in row if b["text"] == texts.SHARE)
        assert shared["share"] and not shared["data"]
        offered = await share(url)
        assert [r["photo"] for r in offered["results"]] == [result[0]["photo"]] and not offered["button"]

        # A page opened now (or reloaded) gets the whole chat as it stands.
        async with PageEvents(url) as later:
            ids = [m["id"] for m in later.of("hello")[0]["messages"]]
            assert ids == sorted(ids) and result[0]["id"] in ids and status[0]["id"] not in ids


async def test_a_bad_upload_gets_the_bots_answer(playground: Playground, bot: RunningBot) -> None:
    url = playground.config.url
    async with PageEvents(url) as page:
        await send(url, files=[("notes.txt", b"not a picture at all", "text/plain")])
        sent = await page.wait(lambda: page.messages("user"), "my file")
        assert sent[0]["document"]["name"] == "notes.txt"
        answer = await page.wait(lambda: page.messages(), "the bot's answer")
        assert answer[0]["text"] == texts.image_code(ENGLISH, ImageCode.NOT_AN_IMAGE)


async def test_an_album_of_two_is_photo_and_style(
    playground: Playground, bot: RunningBot, store: JobStore, tmp_path: Path
) -> None:
    url = playground.config.url
    async with PageEvents(url) as page:
        await send(
            url,
            files=[
                ("me.jpg", photo_bytes(), "image/jpeg"),
                ("style.png", photo_bytes("astronaut", fmt="PNG"), "image/png"),
            ],
        )
        parts = await page.wait(lambda: len(page.messages("user")) == 2 and page.messages("user"), "two")
        assert parts[0]["album"] and parts[0]["album"] == parts[1]["album"]
        job = await HandWorker(store, tmp_path).claim()
        assert job.style_image_id is not None and job.style_preset is None


async def test_commands_typed_on_the_page_reach_the_bot(playground: Playground, bot: RunningBot) -> None:
    url = playground.config.url
    async with PageEvents(url) as page:
        await send(url, text="/help")
        answer = await page.wait(lambda: page.messages(), "the help text")
        assert "/styles" in answer[0]["text"]
        assert await press(url, 9999, "preset:x") == 400  # no such message: refused, nothing sent
        # Nothing painted yet: Share offers the bot's button to make one instead.
        assert await share(url) == {"ok": True, "results": [], "button": texts.SHARE_NONE}


async def test_other_sites_cannot_drive_the_chat(playground: Playground, bot: RunningBot) -> None:
    """A page elsewhere posting to 127.0.0.1 (CSRF), or another host name for it (DNS rebinding)."""
    url = playground.config.url
    async with aiohttp.ClientSession() as session:
        for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"}):
            async with session.post(f"{url}/api/send", data={"text": "/forget"}, headers=headers) as response:
                assert response.status == 403
            async with session.get(f"{url}/api/events", headers=headers) as response:
                assert response.status == 403
            async with session.post(f"{url}/api/inline", headers=headers) as response:
                assert response.status == 403
        async with session.post(
            f"{url}/api/send", data={"text": "/help"}, headers={"Origin": url}
        ) as response:
            assert response.status == 200
    assert [m["text"] for m in playground.messages.values() if m["from"] == "user"] == ["/help"]


async def test_a_russian_playground_user_gets_the_bot_in_russian(
    store: JobStore, tmp_path: Path
) -> None:
    """PLAYGROUND_LANGUAGE=ru plays a Telegram app set to Russian: the menu and the answers are Russian."""
    playground = Playground(
        PlaygroundConfig.from_env({"PLAYGROUND_PORT": str(free_port()), "PLAYGROUND_LANGUAGE": "ru"})
    )
    await playground.start()
    env = {**playground.bot_env(), "DATA_DIR": str(tmp_path), **TEST_ENV}
    bot = await RunningBot(BotConfig.from_env(env), store).start()
    try:
        url = playground.config.url
        async with PageEvents(url) as page:
            menu = {c["command"]: c["description"] for c in page.of("hello")[0]["commands"]}
            assert menu["start"] == "Как это работает"
            await send(url, text="/start")
            greeting = await page.wait(lambda: page.messages(), "the greeting")
            assert greeting[0]["text"].startswith("Привет")
    finally:
        await bot.stop()
        await playground.stop()


async def test_privacy_language_cancel_and_the_fallback_work_on_the_page(
    playground: Playground, bot: RunningBot, store: JobStore, tmp_path: Path
) -> None:
    """Issue 26's commands and buttons as a playground user meets them: ✖ Cancel on the status
    message, text answered from where the user stands, /language (with the menu following it),
    /privacy and its Export button's zip."""
    url = playground.config.url
    async with PageEvents(url) as page:
        assert {"privacy", "export", "language"} <= {c["command"] for c in page.of("hello")[0]["commands"]}

        def bot_says(fragment: str) -> list[dict]:
            return [m for m in page.messages() if fragment in m["text"]]

        # A waiting photo: text gets the paintings to tap again.
        await send(url, files=[("me.jpg", photo_bytes(), "image/jpeg")])
        offer = await page.wait(lambda: bot_says("Got your photo"), "the preset buttons")
        await send(url, text="which one?")
        again = await page.wait(lambda: bot_says(ENGLISH(texts.UNKNOWN_TEXT_WAITING)), "the fallback")
        assert again[0]["buttons"] == offer[0]["buttons"]

        # ✖ Cancel under the status message cancels that painting.
        assert await press(url, again[0]["id"], again[0]["buttons"][0][0]["data"]) == 200
        status = await page.wait(lambda: [m for m in bot_says("Queued") if m["buttons"]], "the status")
        (cancel,) = status[0]["buttons"][0]
        assert cancel["text"] == ENGLISH(texts.CANCEL_BUTTON)
        assert await press(url, status[0]["id"], cancel["data"]) == 200
        await page.wait(
            lambda: [m for m in bot_says(ENGLISH(texts.CANCELLED)) if m["id"] == status[0]["id"]], "cancelled"
        )

        # /language: Russian answers, and the menu the page shows follows.
        await send(url, text="/language")
        choice = await page.wait(lambda: bot_says("Which language"), "the language buttons")
        russian = next(b for row in choice[0]["buttons"] for b in row if b["text"] == "Русский")
        assert await press(url, choice[0]["id"], russian["data"]) == 200
        await page.wait(
            lambda: any(
                c["description"] == "Как это работает" for e in page.of("commands") for c in e["commands"]
            ),
            "the Russian menu",
        )
        await send(url, text="/privacy")
        privacy = await page.wait(lambda: bot_says("Что я о вас храню"), "the privacy text")
        export = privacy[0]["buttons"][0][0]
        assert export["text"] == "📦 Выгрузить мои данные"
        assert await press(url, privacy[0]["id"], export["data"]) == 200
        zipped = await page.wait(lambda: [m for m in page.messages() if m["document"]], "the zip")
        assert zipped[0]["document"]["name"] == "drawme-my-data.zip"
        data, _ = await fetch(url + zipped[0]["document"]["url"])
        assert data.startswith(b"PK")


def test_the_playground_paints_at_its_own_sizes_unless_paint_sizes_is_set() -> None:
    """The newcomer's minute (issue 25): without PAINT_SIZES the bot the supervisor starts for the page
    offers the playground's sizes, 256 px by default, on any device; PAINT_SIZES still wins."""
    playground = Playground(PlaygroundConfig.from_env({}))
    sizes = BotConfig.from_env(playground.bot_env()).sizes_for(gpu=False)
    assert sizes == PLAYGROUND_SIZES and sizes.medium == 256
    assert BotConfig.from_env(playground.bot_env()).sizes_for(gpu=True) == PLAYGROUND_SIZES
    chosen = Playground(PlaygroundConfig.from_env({"PAINT_SIZES": "128,192,256"}))
    assert "PAINT_SIZES" not in chosen.bot_env()
    env = {**chosen.bot_env(), "PAINT_SIZES": "128,192,256"}
    assert BotConfig.from_env(env).sizes_for(gpu=False).medium == 192


async def test_the_page_says_why_its_paintings_are_256_px(playground: Playground) -> None:
    page, _ = await fetch(playground.config.url + "/")
    assert b"256 px" in page and b"within a minute" in page and b"offers\n      192 and 384 px" in page
    assert b"__" not in page  # every size filled in


async def test_the_page_names_the_sizes_paint_sizes_chose() -> None:
    env = {"PLAYGROUND_PORT": str(free_port()), "PAINT_SIZES": "96,128,160"}
    chosen = Playground(PlaygroundConfig.from_env(env))
    await chosen.start()
    try:
        page, _ = await fetch(chosen.config.url + "/")
    finally:
        await chosen.stop()
    assert b"Paintings here are 128 px" in page and b"96 and 160 px" in page
    assert b"256" not in page and b"within a minute" not in page
