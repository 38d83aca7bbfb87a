"""The Bot API emulator behind the local playground's chat page: a Telegram Bot API server on
127.0.0.1 that the real python-telegram-bot talks to over HTTP, as it would to api.telegram.org.

It keeps just enough state to behave like Telegram where the bot could get it wrong: message ids per
chat, the current text/caption/keyboard of every sent message ("message is not modified", "message
to edit not found"), files and their sizes (downloads over 20 MB refused), callback data ≤ 64 bytes,
captions ≤ 1024 characters, inline queries (answered once, in time, with at most 50 results of
unique ids), the command menus and profile texts the bot sets. Every request is recorded (`requests`;
the request's `CALL` for whoever listens to the answers).

The chat page (drawme.playground.chat) serves itself from the same server (`start(port, routes)`),
sends what its user types or picks (`send_text`, `send_photo`, `send_document`, `send_animation`,
`press`, `inline_query`) and shows the pictures and files the bot uploads: they are kept (`Upload`).
The tests' fault injection (errors, floods, blocked users, kills mid-call, webhooks) wraps this class
in tests/fake_telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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


@dataclass
class Call:
    """One request the bot made: the API method, its decoded parameters, uploaded files' sizes."""

    method: str
    params: dict[str, Any]
    files: dict[str, int] = field(default_factory=dict)  # multipart field name -> bytes uploaded
    status: int = 200
    description: str = ""  # Telegram's words when it refused the call
    at: float = field(default_factory=time.monotonic)

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


# An answer to an inline query that is unknown, answered already or too old (Telegram's QUERY_ID_INVALID).
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class ApiError(Exception):
    """Telegram refuses the call: its HTTP status, its words, and `parameters` such as retry_after."""

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


class BotApiEmulator:
    """The server. Inject updates with send_text/send_photo/…; inspect `requests` and `messages`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.bot_user = dict(BOT_USER)  # what getMe answers (e.g. inline mode off: supports_inline_queries)
        self.requests: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> current content
        self.files: dict[str, bytes] = {}
        self.file_sizes: dict[str, int] = {}  # the size Telegram reports (getFile refuses over 20 MB)
        self.languages: dict[int, str] = {}  # user -> their client's language_code (default "en")
        self.menus: dict[str, list[dict[str, str]]] = {}  # setMyCommands: language_code ("" = all) -> menu
        self.chat_menus: dict[int, list[dict[str, str]]] = {}  # setMyCommands for one chat's scope
        self.profile: dict[tuple[str, str], str] = {}  # (description | short_description, language) -> text
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
        """Hand the bot an update (with the next update id), as getUpdates will answer it."""
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._new_update.set()
        return update

    def send_text(self, user_id: int, text: str) -> dict[str, Any]:
        """A text message; a leading /command gets its bot_command entity like the real client sends."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update(message=self._message(user_id, **content))["message"]

    def add_file(self, data: bytes, size: int | None = None) -> tuple[str, str]:
        """Keep `data` for download, of `size` bytes as Telegram reports it (the data's own length
        unless given); returns (file_id, file_unique_id)."""
        number = next(self._file_ids)
        file_id = f"file-{number}"
        self.files[file_id] = data
        self.file_sizes[file_id] = len(data) if size is None else size
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
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A file sent "as a document" (uncompressed)."""
        content = self._document(data, file_name, mime_type, media_group_id)
        return self.push_update(message=self._message(user_id, **content))["message"]

    def _document(
        self, data: bytes, file_name: str, mime_type: str | None, media_group_id: str | None
    ) -> dict[str, Any]:
        """A document message's content, its file kept for download."""
        file_id, unique = self.add_file(data)
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "file_size": self.file_sizes[file_id],
        }
        if mime_type:
            document["mime_type"] = mime_type
        content: dict[str, Any] = {"document": document}
        if media_group_id:
            content["media_group_id"] = media_group_id
        return content

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

    # --- inspecting -------------------------------------------------------------------------
    def menu(self, user_id: int) -> list[dict[str, str]]:
        """The command menu a user sees: the one set for their chat, else the one set for their
        language (its two-letter code, as setMyCommands takes it), else the one for all."""
        if user_id in self.chat_menus:  # set for their private chat: it wins over any language's
            return self.chat_menus[user_id]
        language = self.languages.get(user_id, "en").split("-")[0].lower()
        return self.menus.get(language, self.menus.get("", []))

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
            result = await self._carry_out(call)
        except ApiError as error:
            call.status, call.description = error.status, error.description
            body = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

    async def _carry_out(self, call: Call) -> Any:
        """Do what Telegram does for `call` and return its result; Telegram's refusals are ApiErrors."""
        handler = getattr(self, f"_{call.method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        result = handler(call.params, call.files)
        if asyncio.iscoroutine(result):
            result = await result
        return result

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
        return True  # polling: there is no webhook to delete

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
