"""The local playground: a Telegram-like chat page in the browser, in front of the Bot API emulator.

`make run` without BOT_TOKEN (drawme.supervisor) starts a `Playground` on 127.0.0.1:PLAYGROUND_PORT,
then the bot and the engine exactly as with Telegram: the bot only gets this server's address and a
local token. One local user chats with the bot. The page posts what the user sends (text, a photo, an
album, any file, a button tap) and follows the chat live over Server-Sent Events: every message the bot
sends, edits or deletes, its answers to button taps, what it is doing (typing, uploading) and the
command menu it registers. A Share button (inline mode) shows what `@bot` would offer in another chat:
there is no other chat here, so the page lists the bot's inline answer instead of a chat picker.
Nothing leaves the machine; the chat lives in memory until the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from drawme.config import ConfigError, PlaygroundConfig
from drawme.playground.botapi import BOT_USER, CALL, BotApiEmulator, Call

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
LOCAL_USER_ID = 1
KEEP_REQUESTS = 200  # the emulator's request log, for the logs' sake; the playground runs for hours
KEEPALIVE_SECONDS = 15.0
INLINE_WAIT_SECONDS = 10.0  # how long the page waits for the bot's answer to an inline query
# Pictures the page sends as a Telegram client would: compressed photos. Anything else is a file.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/bmp"})


def _largest(photo: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    return photo[-1] if photo else None


class Playground:
    """The emulator plus the page: start it, give the bot `bot_env()`, and open `config.url`."""

    def __init__(self, config: PlaygroundConfig, user_id: int = LOCAL_USER_ID) -> None:
        self.config = config
        self.user_id = user_id
        # A fresh token each start: only the bot this process launches can use the emulator.
        self.telegram = BotApiEmulator(token=f"{BOT_USER['id']}:local-{secrets.token_urlsafe(24)}")
        self.telegram.requests = deque(maxlen=KEEP_REQUESTS)  # type: ignore[assignment]
        self.telegram.languages[user_id] = config.language  # as a Telegram client's setting
        self.messages: dict[int, dict[str, Any]] = {}  # message id -> the page's view of it
        self.commands: list[dict[str, str]] = []
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._albums = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------------
    def bot_env(self) -> dict[str, str]:
        """The settings that point the bot at this emulator instead of api.telegram.org, and the
        playground's painting sizes unless PAINT_SIZES is set."""
        env = {"BOT_TOKEN": self.telegram.token, "TELEGRAM_API_URL": self.config.url}
        if not self.config.sizes_chosen:  # the newcomer's minute (config.PLAYGROUND_SIZES)
            env["PAINT_SIZES"] = ",".join(str(px) for px in self.config.sizes.as_dict().values())
        return env

    async def start(self) -> None:
        try:
            await self.telegram.start(self.config.port, self._routes)
        except OSError as error:
            raise ConfigError(
                f"the playground cannot listen on 127.0.0.1:{self.config.port} ({error.strerror}); "
                "set PLAYGROUND_PORT to a free port, or BOT_TOKEN to use Telegram"
            ) from None

    async def stop(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)  # ends each open event stream, so the server stops at once
        await self.telegram.stop()

    async def serve(self, run: Callable[[], Awaitable[int]]) -> int:
        """Start the page, run `run()` (the supervisor) until it returns, then stop the page."""
        await self.start()
        try:
            running = asyncio.ensure_future(run())
            await asyncio.sleep(0)  # the supervisor is up (its signal handlers too) before we say so
            log.info("no BOT_TOKEN: the bot talks to the local playground", extra={"event": "playground"})
            print(f"open {self.config.url}   (local preview: no Telegram; set BOT_TOKEN to use Telegram)",
                  flush=True)
            return await running
        finally:
            await self.stop()

    def _routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._answered)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/events", self._events)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/inline", self._inline)
        app.router.add_get("/media/{file_id}", self._media)

    # --- what the bot does, as the page shows it -------------------------------------------------
    async def _answered(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer the server sends; a successful Bot API call may change what the page shows."""
        call = request.get(CALL)
        if call is not None and response.status == 200 and isinstance(response, web.Response):
            body = response.body
            assert isinstance(body, bytes)  # the emulator answers with json_response
            self._observe(call, json.loads(body)["result"])

    def _observe(self, call: Call, result: Any) -> None:
        """The emulator answered one of the bot's requests: tell the page what changed."""
        if call.chat_id not in (None, self.user_id):
            return
        if call.method in ("setMyCommands", "deleteMyCommands"):
            self.commands = [
                {"command": c["command"], "description": c.get("description", "")}
                for c in self.telegram.menu(self.user_id)
            ]
            self._publish({"type": "commands", "commands": self.commands})
        elif call.method == "answerCallbackQuery" and call.params.get("text"):
            self._publish({"type": "toast", "text": call.params["text"],
                           "alert": bool(call.params.get("show_alert"))})
        elif call.method == "sendChatAction":
            self._publish({"type": "action", "action": call.params.get("action", "typing")})
        elif call.method == "deleteMessage":
            message_id = int(call.params["message_id"])
            self.messages.pop(message_id, None)
            self._publish({"type": "delete", "id": message_id})
        else:
            sent = result if isinstance(result, list) else [result]
            for message in sent:
                if isinstance(message, dict) and "message_id" in message:
                    self._show(message, from_bot=True, edited=call.method.startswith("edit"))

    def _show(self, message: dict[str, Any], *, from_bot: bool, edited: bool = False) -> dict[str, Any]:
        view = self.view(message, from_bot=from_bot)
        if edited:
            view["edited"] = True
        self.messages[view["id"]] = view
        self._publish({"type": "message", "message": view})
        return view

    @staticmethod
    def view(message: dict[str, Any], *, from_bot: bool) -> dict[str, Any]:
        """A Bot API message as the page draws it: text, one picture or file, inline buttons."""
        photo = _largest(message.get("photo"))
        document = message.get("document")
        markup = message.get("reply_markup") or {}
        return {
            "id": int(message["message_id"]),
            "from": "bot" if from_bot else "user",
            "date": message.get("date"),
            "text": message.get("text") or message.get("caption") or "",
            "photo": f"/media/{photo['file_id']}" if photo else None,
            "document": {
                "url": f"/media/{document['file_id']}?download=1",
                "name": document.get("file_name") or "file",
                "size": document.get("file_size") or 0,
            } if document else None,
            "album": message.get("media_group_id"),
            "buttons": [
                [
                    {
                        "text": b.get("text", ""),
                        "data": b.get("callback_data"),
                        "share": b.get("switch_inline_query_chosen_chat") is not None,
                    }
                    for b in row
                ]
                for row in markup.get("inline_keyboard", [])
            ],
        }

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    # --- HTTP: the page and its API --------------------------------------------------------------
    def _check_origin(self, request: web.Request) -> None:
        """Only this page may drive the chat: no other site's form or script (CSRF), no other host
        name pointing at 127.0.0.1 (DNS rebinding)."""
        hosts = {f"127.0.0.1:{self.config.port}", f"localhost:{self.config.port}"}
        origin = request.headers.get("Origin")
        if request.host not in hosts or (origin is not None and origin.removeprefix("http://") not in hosts):
            raise web.HTTPForbidden(text="the playground answers its own page only")

    async def _index(self, request: web.Request) -> web.Response:
        """The page, its notice naming the sizes the bot paints at: the playground's own, and why, or
        the ones PAINT_SIZES chose."""
        sizes = self.config.sizes
        why = (
            " (<code>PAINT_SIZES</code> in <code>.env</code>)"
            if self.config.sizes_chosen
            else ", so the first one arrives within a minute on a 2-core CPU"
        )
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        for token, value in (("SMALL", sizes.small), ("MEDIUM", sizes.medium), ("LARGE", sizes.large)):
            page = page.replace(f"__{token}__", str(value))
        page = page.replace("__WHY__", why)
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the whole chat first, then each change as it happens."""
        self._check_origin(request)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            hello = {
                "type": "hello",
                "bot": BOT_USER["first_name"],
                "commands": self.commands,
                "messages": [self.messages[key] for key in sorted(self.messages)],
            }
            await response.write(_sse(hello))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                await response.write(_sse(event))
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the tab was closed or reloaded
        finally:
            self._subscribers.discard(queue)
        return response

    async def _send(self, request: web.Request) -> web.Response:
        """What the user sends: `text`, and/or one `file` (a photo or any file) or several (an album)."""
        self._check_origin(request)
        form = await request.post()
        uploads = [value for key, value in form.items() if key == "file" and isinstance(value, web.FileField)]
        text = str(form.get("text") or "").strip()
        if not uploads and not text:
            return web.json_response({"ok": False, "error": "nothing to send"}, status=400)
        telegram, user = self.telegram, self.user_id
        sent: list[dict[str, Any]] = []
        if not uploads:
            sent.append(telegram.send_text(user, text))
        group = f"local-{next(self._albums)}" if len(uploads) > 1 else None
        for upload in uploads:
            data = upload.file.read()
            mime = (upload.content_type or "").lower()
            if mime in PHOTO_TYPES:
                sent.append(telegram.send_photo(user, data, media_group_id=group,
                                                caption=text if len(uploads) == 1 else None))
            elif mime == "image/gif":
                sent.append(telegram.send_animation(user, data))
            else:
                sent.append(telegram.send_document(user, data, upload.filename or "file", mime or None,
                                                   media_group_id=group))
        for message in sent:
            self._show(message, from_bot=False)
        return web.json_response({"ok": True, "ids": [m["message_id"] for m in sent]})

    async def _press(self, request: web.Request) -> web.Response:
        """A tap on an inline button of one of the bot's messages."""
        self._check_origin(request)
        with contextlib.suppress(ValueError):
            body = await request.json()
            message_id, data = int(body["message_id"]), str(body["data"])
            if message_id in self.messages and data:
                self.telegram.press(self.user_id, message_id, data)
                return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": "no such button"}, status=400)

    async def _inline(self, request: web.Request) -> web.Response:
        """A tap on Share: the inline query Telegram would send once the user picks a chat, and the
        bot's answer as the page lists it (its photos, or the button it offers instead)."""
        self._check_origin(request)
        query = self.telegram.inline_query(self.user_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INLINE_WAIT_SECONDS
        while (answer := self.telegram.inline_answers.pop(query["id"], None)) is None:
            if loop.time() > deadline:
                return web.json_response({"ok": False, "error": "the bot did not answer"}, status=504)
            await asyncio.sleep(0.05)
        results = [
            {"id": r["id"], "photo": f"/media/{r['photo_file_id']}", "caption": r.get("caption") or ""}
            for r in answer.get("results") or []
            if r.get("photo_file_id")
        ]
        button = answer.get("button")
        return web.json_response(
            {"ok": True, "results": results, "button": button.get("text") if button else None}
        )

    async def _media(self, request: web.Request) -> web.Response:
        """A picture or file of the chat, by its file id (the page's <img> and download links)."""
        self._check_origin(request)
        file_id = request.match_info["file_id"]
        data = self.telegram.files.get(file_id)
        if not data:
            raise web.HTTPNotFound()
        headers = {"Content-Type": _content_type(data), "Cache-Control": "private, max-age=86400"}
        if request.query.get("download"):
            name = self._file_name(file_id)
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(body=data, headers=headers)

    def _file_name(self, file_id: str) -> str:
        for view in self.messages.values():
            document = view.get("document")
            if document and document["url"].startswith(f"/media/{file_id}?"):
                return "".join(c for c in document["name"] if c.isalnum() or c in "._-") or "file"
        return "file"


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _content_type(data: bytes) -> str:
    """Enough sniffing for the browser to show the bot's pictures; other files download as bytes."""
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
