"""A fake Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot talks to over HTTP.

It keeps just enough state to behave like Telegram where the bot could get it wrong: message ids per
chat, the current text/caption/keyboard of every sent message ("message is not modified"), files and
their sizes (downloads over 20 MB refused), callback data ≤ 64 bytes, captions ≤ 1024 characters,
inline queries (answered once, in time, with at most 50 results of unique ids).

It answers every fault Telegram really answers: 403 for a user who blocked the bot, 400 "chat not
found", "message to edit not found" (the user deleted it), "message is not modified", 429 with
`retry_after` (a flood mode, and per-chat rate rules like Telegram's own), a request that times out,
and a connection dropped after the request was carried out. `kill_inside` SIGKILLs a bot process in
the middle of a given call, before or after its effect. Every request is recorded for assertions.

    server = FakeTelegram(); await server.start()
    Application.builder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url)
    server.send_photo(user_id, jpeg_bytes)
    await server.wait_for(lambda: server.calls("sendPhoto", chat_id=user_id))

The tests use it (as tests.fake_telegram), and so does the local playground (drawme.playground.chat),
which serves its chat page from the same server (`start(port, routes)`) and shows the pictures and
files the bot uploads: they are kept (`Upload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-fake-token-for-drawme-tests-0000000"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "drawme",
    "username": "drawme_test_bot",
    "supports_inline_queries": True,  # inline mode switched on in @BotFather (/setinline)
}
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_CAPTION = 1024
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_INLINE_RESULTS = 50
MAX_RESULT_ID = 64  # bytes
INLINE_QUERY_SECONDS = 10.0  # roughly how long Telegram waits for an inline query's answer
# Methods whose first answer in flood mode is a 429 (sending and editing, like Telegram's limits).
FLOOD_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption", "editMessageMedia"}
)


@dataclass
class Call:
    """One request the bot made: the API method, its decoded parameters, uploaded files' sizes."""

    method: str
    params: dict[str, Any]
    files: dict[str, int] = field(default_factory=dict)  # multipart field name -> bytes uploaded
    status: int = 200
    description: str = ""  # Telegram's words when it refused the call
    at: float = field(default_factory=time.monotonic)
    killed: bool = False  # a kill_inside hook fired in this call
    dropped: bool = False  # carried out, but no answer reached the bot (dropped or killed)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return self.params.get("text") or self.params.get("caption") or ""


BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
# An answer to an inline query that is unknown, answered already or too old (Telegram's QUERY_ID_INVALID).
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class Hook:
    """Run `action(call)` inside the handler of `method`, before or after the call takes effect."""

    method: str
    action: Callable[[Call], Any]
    after: bool = True
    when: Callable[[Call], bool] = lambda call: True
    times: int = 1


class Dropped(Exception):
    """The request was carried out, but the connection is cut before the answer is written."""


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


# Where a request keeps its recorded Call (aiohttp before 3.14 has no typed keys: a plain one).
CALL = web.RequestKey("call", Call) if hasattr(web, "RequestKey") else "call"


class Upload(int):
    """A file the bot uploaded: its size in bytes (what `Call.files` compares), with the bytes kept."""

    data: bytes = b""
    filename: str = ""
    mime_type: str = ""

    @classmethod
    def of(cls, data: bytes, filename: str = "", mime_type: str = "") -> Upload:
        upload = cls(len(data))
        upload.data, upload.filename, upload.mime_type = data, filename, mime_type
        return upload


class FakeTelegram:
    """The server. Inject updates with send_text/send_photo/…; inspect `requests` or `calls(...)`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.bot_user = dict(BOT_USER)  # what getMe answers (e.g. inline mode off: supports_inline_queries)
        self.requests: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> current content
        self.files: dict[str, bytes] = {}
        self.file_sizes: dict[str, int] = {}  # declared size (can exceed the bytes we really hold)
        self.flood_remaining = 0
        self.flood_retry_after = 1
        self.flood_methods: frozenset[str] = FLOOD_METHODS
        self.faults: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}  # method -> errors
        self.blocked: set[int] = set()  # users who blocked the bot: 403 for anything sent to them
        self.unknown_chats: set[int] = set()  # 400 chat not found
        self.languages: dict[int, str] = {}  # user -> their client's language_code (default "en")
        self.menus: dict[str, list[dict[str, str]]] = {}  # setMyCommands: language_code ("" = all) -> menu
        self.chat_menus: dict[int, list[dict[str, str]]] = {}  # setMyCommands for one chat's scope
        self.profile: dict[tuple[str, str], str] = {}  # (description | short_description, language) -> text
        self.stalls: dict[str, list[float]] = {}  # method -> seconds to sit on the answer (after the effect)
        self.drops: dict[str, int] = {}  # method -> connections to drop after the effect
        self.hooks: list[Hook] = []
        # Telegram's own flood rules: at most `chat_burst` messages per chat in `chat_window` seconds.
        self.chat_burst = 0  # 0: no per-chat rule
        self.chat_window = 1.0
        self._sent_at: dict[int, deque[float]] = {}
        # Webhook mode: after setWebhook, updates are POSTed (in order, retried until answered 200)
        # to the webhook URL, or round robin to `balanced` addresses, like a load balancer would.
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.balanced: list[str] = []
        self.webhook_answers: list[tuple[int, str, int]] = []  # (update_id, address, HTTP status)
        self._outbox: asyncio.Queue[dict[str, Any]] | None = None
        self._pusher: asyncio.Task | None = None
        self._next_target = 0
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        # getUpdates' allowed_updates, remembered like Telegram does (None: every usual type); an update
        # of another type is never delivered (and recorded in `not_delivered`).
        self.allowed_updates: list[str] | None = None
        self.not_delivered: list[dict[str, Any]] = []
        # Telegram's update ids grow from an arbitrary number per bot, not from 1 for every session.
        self._update_ids = itertools.count(random.randrange(1, 2**30))
        self._message_ids: dict[int, itertools.count] = {}
        self._file_ids = itertools.count(1)
        self._album_ids = itertools.count(1000)
        # Inline queries: id -> when asked; answered ones move to `inline_answers` (id -> parameters).
        self.inline_queries: dict[str, float] = {}
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self.inline_query_seconds = INLINE_QUERY_SECONDS
        self._inline_ids = itertools.count(random.randrange(10**17, 10**18))
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self, port: int = 0, routes: Callable[[web.Application], None] | None = None) -> None:
        """Listen on 127.0.0.1:`port` (0: any free port); `routes` adds more to the same server."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        if routes is not None:
            routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._new_update.set()  # release a pending long poll
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.api_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_url}/file/bot"

    # --- injecting updates ----------------------------------------------------------------
    def _user(self, user_id: int) -> dict[str, Any]:
        language = self.languages.get(user_id, "en")
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _message(self, user_id: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self._next_message_id(user_id),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "from": self._user(user_id),
            **content,
        }

    def push_update(self, **update: Any) -> dict[str, Any]:
        update["update_id"] = next(self._update_ids)
        if self.webhook_url is not None:
            self._outbox_queue().put_nowait(update)
            return update
        self._updates.append(update)
        self._new_update.set()
        return update

    def balance(self, addresses: Iterable[str]) -> None:
        """Put a load balancer in front of the webhook: updates go round robin to `addresses`
        (an address that does not answer 200 is skipped, and the update retried elsewhere)."""
        self.balanced = list(addresses)

    def _outbox_queue(self) -> asyncio.Queue[dict[str, Any]]:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._pusher = asyncio.get_running_loop().create_task(self._push_webhook_updates())
        return self._outbox

    async def _push_webhook_updates(self) -> None:
        """Telegram's side of a webhook: each update POSTed until some address answers 200."""
        import aiohttp  # only webhook tests need a client

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                update = await self._outbox_queue().get()
                if not self._allowed(update):
                    continue
                while True:
                    targets = self.balanced or ([self.webhook_url] if self.webhook_url else [])
                    if not targets:  # the webhook was deleted meanwhile: wait for the next one
                        await asyncio.sleep(0.1)
                        continue
                    address = targets[self._next_target % len(targets)]
                    self._next_target += 1
                    headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret or ""}
                    try:
                        async with session.post(address, json=update, headers=headers) as answer:
                            status = answer.status
                    except (aiohttp.ClientError, TimeoutError):
                        status = 0  # refused, reset or no answer in time
                    self.webhook_answers.append((update["update_id"], address, status))
                    if status == 200:
                        break
                    await asyncio.sleep(0.1)

    def edit_text(self, user_id: int, message: dict[str, Any], text: str) -> dict[str, Any]:
        """The user edits a message they sent before (`message`, as a send_… returned it): Telegram
        sends an `edited_message` update with the new text, or caption for a picture."""
        field_name = "caption" if "text" not in message else "text"
        edited = {**message, field_name: text, "edit_date": int(time.time())}
        return self.push_update(edited_message=edited)["edited_message"]

    def move_location(self, user_id: int, message: dict[str, Any], latitude: float) -> dict[str, Any]:
        """A live location the user shares moves: an `edited_message` with the new location."""
        location = {**message["location"], "latitude": latitude, "live_period": 900}
        edited = {**message, "location": location, "edit_date": int(time.time())}
        return self.push_update(edited_message=edited)["edited_message"]

    def send_text(self, user_id: int, text: str) -> dict[str, Any]:
        """A text message; a leading /command gets its bot_command entity like the real client sends."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update(message=self._message(user_id, **content))["message"]

    def add_file(self, data: bytes, declared_size: int | None = None) -> tuple[str, str]:
        """Keep `data` for download; returns (file_id, file_unique_id)."""
        number = next(self._file_ids)
        file_id = f"file-{number}"
        self.files[file_id] = data
        self.file_sizes[file_id] = declared_size if declared_size is not None else len(data)
        return file_id, f"unique-{number}"

    def _photo_sizes(self, data: bytes, width: int = 64, height: int = 64) -> list[dict[str, Any]]:
        file_id, unique = self.add_file(data)
        thumb_id, thumb_unique = self.add_file(data[:100])
        return [
            {"file_id": thumb_id, "file_unique_id": thumb_unique, "width": 8, "height": 8, "file_size": 100},
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": width,
                "height": height,
                "file_size": self.file_sizes[file_id],
            },
        ]

    def send_photo(
        self, user_id: int, data: bytes, *, media_group_id: str | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        """A compressed photo (Telegram sends several sizes; the last is the largest)."""
        content: dict[str, Any] = {"photo": self._photo_sizes(data)}
        if media_group_id:
            content["media_group_id"] = media_group_id
        if caption:
            content["caption"] = caption
        return self.push_update(message=self._message(user_id, **content))["message"]

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        *,
        declared_size: int | None = None,
        media_group_id: str | None = None,
        size_in_update: bool = True,
    ) -> dict[str, Any]:
        """A file sent "as a document" (uncompressed); `declared_size` fakes a huge file cheaply.
        `size_in_update=False` leaves file_size out of the update (it is optional in the Bot API)."""
        file_id, unique = self.add_file(data, declared_size)
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, "file_name": file_name}
        if size_in_update:
            document["file_size"] = self.file_sizes[file_id]
        if mime_type:
            document["mime_type"] = mime_type
        content: dict[str, Any] = {"document": document}
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self.push_update(message=self._message(user_id, **content))["message"]

    def send_animation(self, user_id: int, data: bytes) -> dict[str, Any]:
        """A GIF: Telegram sends it as an animation and, for old clients, also as a document."""
        file_id, unique = self.add_file(data)
        animation = {
            "file_id": file_id,
            "file_unique_id": unique,
            "width": 64,
            "height": 64,
            "duration": 1,
            "file_name": "funny.gif",
            "mime_type": "video/mp4",
            "file_size": len(data),
        }
        document = {
            k: animation[k] for k in ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")
        }
        return self.push_update(message=self._message(user_id, animation=animation, document=document))[
            "message"
        ]

    def send_video(self, user_id: int, data: bytes) -> dict[str, Any]:
        file_id, unique = self.add_file(data)
        video = {
            "file_id": file_id,
            "file_unique_id": unique,
            "width": 64,
            "height": 64,
            "duration": 2,
            "mime_type": "video/mp4",
            "file_size": len(data),
        }
        return self.push_update(message=self._message(user_id, video=video))["message"]

    def send_other(self, user_id: int, kind: str) -> dict[str, Any]:
        """A message that is not a picture or text, shaped as Telegram sends it: voice, audio,
        video_note, sticker, location, venue, contact, poll or dice."""
        file_id, unique = self.add_file(b"\x00" * 16)
        media = {"file_id": file_id, "file_unique_id": unique, "file_size": 16}
        location = {"latitude": 48.52, "longitude": 9.05}
        kinds: dict[str, dict[str, Any]] = {
            "voice": {"voice": {**media, "duration": 3, "mime_type": "audio/ogg"}},
            "audio": {"audio": {**media, "duration": 120, "mime_type": "audio/mpeg", "title": "Song"}},
            "video_note": {"video_note": {**media, "length": 240, "duration": 5}},
            "sticker": {
                "sticker": {
                    **media,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "😀",
                }
            },
            "location": {"location": location},
            "venue": {
                "venue": {"location": location, "title": "Tübingen", "address": "Neckar"},
                "location": location,
            },
            "contact": {"contact": {"phone_number": "+100", "first_name": "Ada", "user_id": user_id}},
            "poll": {
                "poll": {
                    "id": "poll-1",
                    "question": "Which style?",
                    "options": [
                        {"text": "Van Gogh", "voter_count": 0, "persistent_id": "0"},
                        {"text": "Munch", "voter_count": 0, "persistent_id": "1"},
                    ],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                }
            },
            "dice": {"dice": {"emoji": "🎲", "value": 4}},
        }
        return self.push_update(message=self._message(user_id, **kinds[kind]))["message"]

    def send_album(self, user_id: int, pictures: Iterable[bytes]) -> list[dict[str, Any]]:
        """Several photos with one media_group_id, one update each, as Telegram delivers albums."""
        group = str(next(self._album_ids))
        return [self.send_photo(user_id, data, media_group_id=group) for data in pictures]

    def press(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """Tap an inline button of the bot's message `message_id` in the user's chat."""
        stored = self.messages.get((user_id, message_id), {})
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
        }
        message.update({k: v for k, v in stored.items() if k in ("text", "caption", "reply_markup", "photo")})
        query = {
            "id": str(next(self._update_ids) * 7),
            "from": self._user(user_id),
            "message": message,
            "chat_instance": f"ci-{user_id}",
            "data": data,
        }
        return self.push_update(callback_query=query)["callback_query"]

    def inline_query(
        self, user_id: int, query: str = "", *, offset: str = "", chat_type: str = "sender"
    ) -> dict[str, Any]:
        """The user types `@bot <query>` in a chat (`chat_type`: "sender" is their chat with the bot;
        "private", "group", "supergroup", "channel"): Telegram sends the bot an inline query."""
        now = time.monotonic()
        for old in [q for q, at in self.inline_queries.items() if now - at > self.inline_query_seconds]:
            del self.inline_queries[old]  # expired: an answer now gets QUERY_TOO_OLD anyway
        inline: dict[str, Any] = {
            "id": str(next(self._inline_ids)),
            "from": self._user(user_id),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self.inline_queries[inline["id"]] = now
        return self.push_update(inline_query=inline)["inline_query"]

    def switch_inline(
        self, user_id: int, message_id: int, label: str, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Tap a switch-inline button of the bot's message, then pick a chat of `chat_type`: the app
        types `@bot <the button's query>` there, and the bot gets that inline query."""
        button = self.button(user_id, message_id, label)
        chosen = button.get("switch_inline_query_chosen_chat")
        query = chosen.get("query", "") if chosen is not None else button.get("switch_inline_query")
        if query is None:
            raise AssertionError(f"the button {label!r} does not switch to inline mode")
        return self.inline_query(user_id, query, chat_type=chat_type)

    def flood(self, times: int, retry_after: int = 1, methods: Iterable[str] | None = None) -> None:
        """Answer the next `times` sending/editing requests with 429 Too Many Requests."""
        self.flood_remaining, self.flood_retry_after = times, retry_after
        self.flood_methods = frozenset(methods) if methods is not None else FLOOD_METHODS

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = 502,
        description: str = "Bad Gateway",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (502: PTB raises NetworkError)."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self.faults.setdefault(method, []).extend([(status, description, parameters)] * times)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: everything sent to their chat gets 403 from now on."""
        self.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.blocked.discard(user_id)

    def lose_chat(self, chat_id: int) -> None:
        """The chat no longer exists for the bot (deleted account, wrong id): 400 chat not found."""
        self.unknown_chats.add(chat_id)

    def delete_by_user(self, chat_id: int, message_id: int) -> None:
        """The user deletes a bot message: edits of it get "message to edit not found"."""
        self.messages.pop((chat_id, message_id), None)

    def limit_per_chat(self, burst: int, window: float = 1.0) -> None:
        """Telegram's per-chat flood rule: more than `burst` messages to one chat within `window`
        seconds get 429 with the retry_after that frees the window; other chats are unaffected."""
        self.chat_burst, self.chat_window = burst, window

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, then sit on the answer for `seconds`
        (longer than the bot's read timeout: the bot sees a timeout although the call took effect)."""
        self.stalls.setdefault(method, []).extend([seconds] * times)

    def drop_next(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, then cut the connection without an answer."""
        self.drops[method] = self.drops.get(method, 0) + times

    def hook(
        self,
        method: str,
        action: Callable[[Call], Any],
        *,
        after: bool = True,
        when: Callable[[Call], bool] | None = None,
        times: int = 1,
    ) -> Hook:
        """Run `action(call)` inside the next matching call of `method`, before or after its effect."""
        hook = Hook(method, action, after, when or (lambda call: True), times)
        self.hooks.append(hook)
        return hook

    def kill_inside(
        self,
        method: str,
        pid: int | Callable[[], int],
        *,
        after: bool = True,
        when: Callable[[Call], bool] | None = None,
    ) -> Hook:
        """SIGKILL the bot process `pid` inside the next matching `method` call: after its effect
        (Telegram did it, the bot never hears) or before it (Telegram never did it)."""

        def kill(call: Call) -> None:
            call.killed = True
            os.kill(pid() if callable(pid) else pid, signal.SIGKILL)
            raise Dropped()

        return self.hook(method, kill, after=after, when=when)

    # --- inspecting -------------------------------------------------------------------------
    def calls(
        self, method: str | None = None, *, chat_id: int | None = None, ok: bool | None = True
    ) -> list[Call]:
        """Recorded requests, filtered by method, chat and success (None = any outcome)."""
        return [
            call
            for call in self.requests
            if (method is None or call.method == method)
            and (chat_id is None or call.chat_id == chat_id)
            and (ok is None or call.ok == ok)
        ]

    def refusals(self, reason: str = "message is not modified", chat_id: int | None = None) -> list[Call]:
        """Calls Telegram refused with `reason` in its description (e.g. edits that changed nothing)."""
        return [call for call in self.calls(chat_id=chat_id, ok=False) if reason in call.description]

    def menu(self, user_id: int) -> list[dict[str, str]]:
        """The command menu a user sees: the one set for their chat, else the one set for their
        language (its two-letter code, as setMyCommands takes it), else the one for all."""
        if user_id in self.chat_menus:  # set for their private chat: it wins over any language's
            return self.chat_menus[user_id]
        language = self.languages.get(user_id, "en").split("-")[0].lower()
        return self.menus.get(language, self.menus.get("", []))

    def texts(self, chat_id: int) -> list[str]:
        """Texts and captions the bot sent (not edits) to a chat, in order."""
        sent = ("sendMessage", "sendPhoto", "sendDocument")
        return [
            call.text for call in self.requests if call.method in sent and call.ok and call.chat_id == chat_id
        ]

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(label, callback_data) of a message's current inline keyboard; "" for a button without
        callback data (e.g. one that switches to inline mode)."""
        return [(b["text"], b.get("callback_data", "")) for b in self._keyboard(chat_id, message_id)]

    def button(self, chat_id: int, message_id: int, label: str) -> dict[str, Any]:
        """The inline button labelled `label` of a message, as the bot sent it (every field)."""
        for button in self._keyboard(chat_id, message_id):
            if button["text"] == label:
                return button
        raise AssertionError(f"no button {label!r} on message {message_id} in chat {chat_id}")

    def _keyboard(self, chat_id: int, message_id: int) -> list[dict[str, Any]]:
        markup = self.messages.get((chat_id, message_id), {}).get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def last_message(self, chat_id: int, containing: str = "") -> tuple[int, dict[str, Any]]:
        """The newest message the bot has in `chat_id` whose text/caption contains `containing`."""
        for (chat, message_id), content in sorted(self.messages.items(), reverse=True):
            if chat == chat_id and containing in (content.get("text") or content.get("caption") or ""):
                return message_id, content
        raise AssertionError(f"no message containing {containing!r} in chat {chat_id}")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        """Poll `predicate` until it returns something truthy (and return it), or fail the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")

    # --- the HTTP side ----------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await self._read_params(request)
        call = Call(method, params, files)
        self.requests.append(call)
        request[CALL] = call  # for whoever listens to the answers (the playground's chat page)
        try:
            self._run_hooks(call, after=False)
            self._check_faults(call)
            handler = getattr(self, f"_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
            self._count_send(call)
            self._run_hooks(call, after=True)
            if self.drops.get(method):
                self.drops[method] -= 1
                raise Dropped()
            if self.stalls.get(method):
                await asyncio.sleep(self.stalls[method].pop(0))
        except ApiError as error:
            call.status, call.description = error.status, error.description
            body = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.status)
        except Dropped:
            call.dropped = True
            if request.transport is not None:
                request.transport.abort()  # the bot sees the connection reset, no answer
            raise asyncio.CancelledError() from None
        return web.json_response({"ok": True, "result": result})

    def _run_hooks(self, call: Call, *, after: bool) -> None:
        for hook in list(self.hooks):
            if hook.method == call.method and hook.after == after and hook.times > 0 and hook.when(call):
                hook.times -= 1
                if hook.times == 0:
                    self.hooks.remove(hook)
                hook.action(call)

    def _check_faults(self, call: Call) -> None:
        """The errors Telegram would answer before doing anything, most specific first."""
        method, chat_id = call.method, call.chat_id
        if chat_id is not None and method != "getUpdates":
            if chat_id in self.unknown_chats:
                raise ApiError(400, CHAT_NOT_FOUND)
            if chat_id in self.blocked:
                raise ApiError(403, BLOCKED)
        if self.flood_remaining > 0 and method in self.flood_methods:
            self.flood_remaining -= 1
            raise ApiError(
                429,
                f"Too Many Requests: retry after {self.flood_retry_after}",
                {"retry_after": self.flood_retry_after},
            )
        if self.chat_burst and chat_id is not None and method in FLOOD_METHODS:
            now = time.monotonic()
            sent = self._sent_at.setdefault(chat_id, deque())
            while sent and sent[0] <= now - self.chat_window:
                sent.popleft()
            if len(sent) >= self.chat_burst:
                wait = max(1, math.ceil(sent[0] + self.chat_window - now))
                raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        if self.faults.get(method):
            raise ApiError(*self.faults[method].pop(0))

    def _count_send(self, call: Call) -> None:
        if self.chat_burst and call.chat_id is not None and call.method in FLOOD_METHODS:
            self._sent_at.setdefault(call.chat_id, deque()).append(time.monotonic())

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, int]]:
        """PTB sends each parameter JSON-encoded (strings as is), as a form or multipart with files."""
        params: dict[str, Any] = {}
        files: dict[str, int] = {}
        if request.content_type == "application/json":
            return dict(await request.json()), files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = Upload.of(value.file.read(), value.filename or "", value.content_type or "")
                continue
            if name in ("text", "caption"):
                params[name] = value  # plain strings are sent as is, not JSON-encoded
                continue
            try:
                params[name] = json.loads(value)
            except ValueError:
                params[name] = value
        return params, files

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("files/")
        if file_id not in self.files:
            return web.Response(status=404)
        self.requests.append(Call("download", {"file_id": file_id}))
        return web.Response(body=self.files[file_id])

    # --- checks shared by the sending methods ------------------------------------------------
    @staticmethod
    def _check_content(params: dict[str, Any]) -> None:
        if len(str(params.get("caption", ""))) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        if "text" in params and not str(params["text"]).strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(str(params.get("text", ""))) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message_id = self._next_message_id(chat_id)
        stored = dict(content)
        if params.get("reply_markup"):
            stored["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message_id)] = stored
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private"},
            **stored,
        }

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    def _uploaded_photo(self, reference: Any, files: dict[str, int]) -> list[dict[str, Any]]:
        """A sent photo: an upload (attach://name or the field itself) or an existing file id."""
        data = b""
        if isinstance(reference, str) and reference.startswith("attach://"):
            size = files.get(reference.removeprefix("attach://"), 0)
            data = getattr(size, "data", b"")
        elif isinstance(reference, str) and reference in self.files:
            size = self.file_sizes[reference]
            data = self.files[reference]
        else:
            size = 0
        file_id, unique = self.add_file(data, size)
        return [{"file_id": file_id, "file_unique_id": unique, "width": 64, "height": 64, "file_size": size}]

    # --- the API methods -----------------------------------------------------------------------
    def _getMe(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        return self.bot_user

    def _deleteWebhook(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self.webhook_url = self.webhook_secret = None
        return True

    def _setWebhook(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self.webhook_url = params["url"]
        self.webhook_secret = params.get("secret_token")
        if params.get("allowed_updates") is not None:
            self.allowed_updates = list(params["allowed_updates"]) or None
        return True

    def _setMyCommands(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        commands = list(params.get("commands") or [])
        scope = params.get("scope") or {"type": "default"}
        if scope["type"] == "chat":
            self.chat_menus[int(scope["chat_id"])] = commands
        else:
            self.menus[params.get("language_code") or ""] = commands
        return True

    def _deleteMyCommands(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        if scope["type"] == "chat":
            self.chat_menus.pop(int(scope["chat_id"]), None)
        else:
            self.menus.pop(params.get("language_code") or "", None)
        return True

    def _setMyDescription(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        return self._set_profile_text(params, "description", 512)

    def _setMyShortDescription(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        return self._set_profile_text(params, "short_description", 120)

    def _set_profile_text(self, params: dict[str, Any], field: str, limit: int) -> bool:
        text = params.get(field) or ""
        if len(text) > limit:
            raise ApiError(400, f"Bad Request: {field} is too long")
        self.profile[(field, params.get("language_code") or "")] = text
        return True

    def _sendChatAction(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        return True

    def _answerInlineQuery(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        """Like Telegram: one answer per query, in time; at most 50 results, ids unique and 1-64 bytes."""
        query_id = str(params.get("inline_query_id", ""))
        asked = self.inline_queries.get(query_id)
        if asked is None or time.monotonic() - asked > self.inline_query_seconds:
            raise ApiError(400, QUERY_TOO_OLD)
        results = params.get("results") or []
        if len(results) > MAX_INLINE_RESULTS:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [str(result.get("id", "")) for result in results]
        if any(not 1 <= len(result_id.encode()) <= MAX_RESULT_ID for result_id in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        if len(set(ids)) != len(ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        for result in results:
            self._check_content(result)
            file_id = result.get("photo_file_id")
            if file_id is not None and file_id not in self.files:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        del self.inline_queries[query_id]  # answered: a second answer is refused
        self.inline_answers[query_id] = params
        return True

    def _answerCallbackQuery(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _getUpdates(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        if self.webhook_url is not None:
            raise ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook first"
            )
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        if params.get("allowed_updates") is not None:  # kept until a later call changes it
            self.allowed_updates = list(params["allowed_updates"]) or None
        self._updates = [u for u in self._updates if u["update_id"] >= offset and self._allowed(u)]
        if not self._updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):  # a long poll that ends empty
                await asyncio.wait_for(self._new_update.wait(), timeout)
            self._updates = [u for u in self._updates if self._allowed(u)]
        return list(self._updates[:100])

    def _allowed(self, update: dict[str, Any]) -> bool:
        """Whether the bot asked for this update's type; Telegram drops the others for good."""
        kind = next(key for key in update if key != "update_id")
        if self.allowed_updates is None or kind in self.allowed_updates:
            return True
        self.not_delivered.append(update)
        return False

    def _getFile(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        if self.file_sizes[file_id] > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": self.file_sizes[file_id],
            "file_path": f"files/{file_id}",
        }

    def _sendMessage(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self._check_content(params)
        return self._new_message(params, text=params["text"])

    def _sendPhoto(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self._check_content(params)
        photo = self._uploaded_photo(params.get("photo", "attach://photo"), files)
        return self._new_message(params, photo=photo, caption=params.get("caption"))

    def _sendDocument(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self._check_content(params)
        size = sum(files.values())
        upload = next(iter(files.values()), Upload.of(b""))
        file_id, unique = self.add_file(getattr(upload, "data", b""), size)
        name = getattr(upload, "filename", "") or "file"
        document = {"file_id": file_id, "file_unique_id": unique, "file_size": size, "file_name": name}
        return self._new_message(params, document=document, caption=params.get("caption"))

    def _sendMediaGroup(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")
        sent = []
        for item in media:
            self._check_content(item)
            photo = self._uploaded_photo(item["media"], files)
            sent.append(self._new_message(params, photo=photo, caption=item.get("caption")))
        return sent

    def _editMessageText(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self._check_content(params)
        stored = self._existing(params)
        if "text" not in stored:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        self._apply_edit(stored, params, text=params["text"])
        return self._as_message(params, stored)

    def _editMessageCaption(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self._check_content(params)
        stored = self._existing(params)
        if "text" in stored:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        self._apply_edit(stored, params, caption=params.get("caption"))
        return self._as_message(params, stored)

    def _editMessageMedia(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        stored = self._existing(params)
        media = params["media"]
        self._check_content(media)
        if "text" in stored:
            raise ApiError(400, "Bad Request: there is no media in the message to edit")
        stored["photo"] = self._uploaded_photo(media["media"], files)
        stored["caption"] = media.get("caption")
        if "reply_markup" in params:
            stored["reply_markup"] = params["reply_markup"]
        return self._as_message(params, stored)

    def _editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        stored = self._existing(params)
        self._apply_edit(stored, params)
        return self._as_message(params, stored)

    def _deleteMessage(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    @staticmethod
    def _apply_edit(stored: dict[str, Any], params: dict[str, Any], **content: Any) -> None:
        """Telegram refuses an edit that changes neither the content nor the keyboard."""
        markup = params.get("reply_markup")
        if all(stored.get(k) == v for k, v in content.items()) and stored.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup of the message are exactly the same as a current content and "
                "reply markup of the message",
            )
        stored.update(content)
        if markup is not None:
            stored["reply_markup"] = markup
        else:
            stored.pop("reply_markup", None)

    @staticmethod
    def _as_message(params: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            **stored,
        }
