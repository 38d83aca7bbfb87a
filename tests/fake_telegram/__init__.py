"""The tests' Telegram: the playground's Bot API emulator (drawme.playground.botapi) with the faults
Telegram really answers switched on by the tests, and the tests' ways to look at what the bot did.

On top of the emulator: 403 for a user who blocked the bot, 400 "chat not found", 429 with
`retry_after` (a flood mode, and per-chat rate rules like Telegram's own), any error on the next
calls of a method (`fail_next`), webhook mode (updates POSTed to the bot, optionally round robin
behind a load balancer), and `hook`/`kill_inside`, which run an action (SIGKILL a bot process) in the
middle of a given call, before or after its effect. Every request is recorded for assertions.

    server = FakeTelegram(); await server.start()
    Application.builder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url)
    server.send_photo(user_id, jpeg_bytes)
    await server.wait_for(lambda: server.calls("sendPhoto", chat_id=user_id))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from drawme.playground.botapi import BOT_USER, MAX_CALLBACK_DATA, ApiError, BotApiEmulator, Call, Upload

TOKEN = "123456789:TEST-fake-token-for-drawme-tests-0000000"
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
# Methods whose first answer in flood mode is a 429 (sending and editing, like Telegram's limits).
FLOOD_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption", "editMessageMedia"}
)

__all__ = ["BOT_USER", "MAX_CALLBACK_DATA", "TOKEN", "Call", "FakeTelegram", "Hook", "Upload"]


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


class FakeTelegram(BotApiEmulator):
    """The emulator with faults. Inject updates with send_text/send_photo/…; inspect `calls(...)`."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(token)
        self.flood_remaining = 0
        self.flood_retry_after = 1
        self.flood_methods: frozenset[str] = FLOOD_METHODS
        self.faults: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}  # method -> errors
        self.blocked: set[int] = set()  # users who blocked the bot: 403 for anything sent to them
        self.unknown_chats: set[int] = set()  # 400 chat not found
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
        self._album_ids = itertools.count(1000)

    async def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        await super().stop()

    # --- the HTTP side: faults before the effect, hooks around it, a cut connection ---------------
    async def _api(self, request: web.Request) -> web.Response:
        try:
            return await super()._api(request)
        except Dropped:
            if request.transport is not None:
                request.transport.abort()  # the bot sees the connection reset, no answer
            raise asyncio.CancelledError() from None

    async def _carry_out(self, call: Call) -> Any:
        self._run_hooks(call, after=False)
        self._check_faults(call)
        result = await super()._carry_out(call)
        self._count_send(call)
        self._run_hooks(call, after=True)
        return result

    # --- webhook mode -------------------------------------------------------------------------------
    def push_update(self, **update: Any) -> dict[str, Any]:
        if self.webhook_url is None:
            return super().push_update(**update)
        update["update_id"] = next(self._update_ids)
        self._outbox_queue().put_nowait(update)
        return update

    def _deleteWebhook(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self.webhook_url = self.webhook_secret = None
        return True

    async def _getUpdates(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        if self.webhook_url is not None:
            raise ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook first"
            )
        return await super()._getUpdates(params, files)

    # --- more kinds of updates ---------------------------------------------------------------------
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
        """A file sent "as a document"; `declared_size` fakes a huge file cheaply, `size_in_update=False`
        leaves file_size out of the update (it is optional in the Bot API)."""
        content = self._document(data, file_name, mime_type, media_group_id)
        document = content["document"]
        if declared_size is not None:
            self.file_sizes[document["file_id"]] = document["file_size"] = declared_size
        if not size_in_update:
            del document["file_size"]
        return self.push_update(message=self._message(user_id, **content))["message"]


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

    # --- faults ---------------------------------------------------------------------------------------
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

    def lose_chat(self, chat_id: int) -> None:
        """The chat no longer exists for the bot (deleted account, wrong id): 400 chat not found."""
        self.unknown_chats.add(chat_id)

    def limit_per_chat(self, burst: int, window: float = 1.0) -> None:
        """Telegram's per-chat flood rule: more than `burst` messages to one chat within `window`
        seconds get 429 with the retry_after that frees the window; other chats are unaffected."""
        self.chat_burst, self.chat_window = burst, window

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
            os.kill(pid() if callable(pid) else pid, signal.SIGKILL)
            raise Dropped()

        return self.hook(method, kill, after=after, when=when)

    # --- inspecting -----------------------------------------------------------------------------------
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

    # --- the faults' machinery --------------------------------------------------------------------------
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

    def _setWebhook(self, params: dict[str, Any], files: dict[str, int]) -> Any:
        self.webhook_url = params["url"]
        self.webhook_secret = params.get("secret_token")
        if params.get("allowed_updates") is not None:
            self.allowed_updates = list(params["allowed_updates"]) or None
        return True
