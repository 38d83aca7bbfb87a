"""A fake Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot talks to over HTTP.

It keeps just enough state to behave like Telegram where the bot could get it wrong: message ids per
chat, the current text/caption/keyboard of every sent message ("message is not modified"), files and
their sizes (downloads over 20 MB refused), callback data ≤ 64 bytes, captions ≤ 1024 characters, and
a flood mode that answers 429 with `retry_after`. Every request is recorded for assertions.

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-fake-token-for-drawme-tests-0000000"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "drawme", "username": "drawme_test_bot"}
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_CAPTION = 1024
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
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
        self.requests: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> current content
        self.files: dict[str, bytes] = {}
        self.file_sizes: dict[str, int] = {}  # declared size (can exceed the bytes we really hold)
        self.flood_remaining = 0
        self.flood_retry_after = 1
        self.flood_methods: frozenset[str] = FLOOD_METHODS
        self.faults: dict[str, list[tuple[int, str]]] = {}  # method -> errors to answer, in order
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._file_ids = itertools.count(1)
        self._album_ids = itertools.count(1000)
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
        self.port = site._server.sockets[0].getsockname()[1]

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
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "en"}

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
        document = {"file_id": file_id, "file_unique_id": unique, "file_name": file_name}
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

    def flood(self, times: int, retry_after: int = 1, methods: Iterable[str] | None = None) -> None:
        """Answer the next `times` sending/editing requests with 429 Too Many Requests."""
        self.flood_remaining, self.flood_retry_after = times, retry_after
        self.flood_methods = frozenset(methods) if methods is not None else FLOOD_METHODS

    def fail_next(
        self, method: str, times: int = 1, status: int = 502, description: str = "Bad Gateway"
    ) -> None:
        """Answer the next `times` calls of `method` with an error (502: PTB raises NetworkError)."""
        self.faults.setdefault(method, []).extend([(status, description)] * times)

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

    def texts(self, chat_id: int) -> list[str]:
        """Texts and captions the bot sent (not edits) to a chat, in order."""
        sent = ("sendMessage", "sendPhoto", "sendDocument")
        return [
            call.text for call in self.requests if call.method in sent and call.ok and call.chat_id == chat_id
        ]

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(label, callback_data) of a message's current inline keyboard."""
        markup = self.messages.get((chat_id, message_id), {}).get("reply_markup") or {}
        return [
            (b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row
        ]

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
            if self.flood_remaining > 0 and method in self.flood_methods:
                self.flood_remaining -= 1
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {self.flood_retry_after}",
                    {"retry_after": self.flood_retry_after},
                )
            if self.faults.get(method):
                raise ApiError(*self.faults[method].pop(0))
            handler = getattr(self, f"_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            call.status = error.status
            body = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

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
    def _getMe(self, params, files):
        return BOT_USER

    def _deleteWebhook(self, params, files):
        return True

    def _setMyCommands(self, params, files):
        return True

    def _sendChatAction(self, params, files):
        return True

    def _answerCallbackQuery(self, params, files):
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _getUpdates(self, params, files):
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):  # a long poll that ends empty
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return list(self._updates[:100])

    def _getFile(self, params, files):
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

    def _sendMessage(self, params, files):
        self._check_content(params)
        return self._new_message(params, text=params["text"])

    def _sendPhoto(self, params, files):
        self._check_content(params)
        photo = self._uploaded_photo(params.get("photo", "attach://photo"), files)
        return self._new_message(params, photo=photo, caption=params.get("caption"))

    def _sendDocument(self, params, files):
        self._check_content(params)
        size = sum(files.values())
        upload = next(iter(files.values()), Upload.of(b""))
        file_id, unique = self.add_file(getattr(upload, "data", b""), size)
        name = getattr(upload, "filename", "") or "file"
        document = {"file_id": file_id, "file_unique_id": unique, "file_size": size, "file_name": name}
        return self._new_message(params, document=document, caption=params.get("caption"))

    def _sendMediaGroup(self, params, files):
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")
        sent = []
        for item in media:
            self._check_content(item)
            photo = self._uploaded_photo(item["media"], files)
            sent.append(self._new_message(params, photo=photo, caption=item.get("caption")))
        return sent

    def _editMessageText(self, params, files):
        self._check_content(params)
        stored = self._existing(params)
        if "text" not in stored:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        self._apply_edit(stored, params, text=params["text"])
        return self._as_message(params, stored)

    def _editMessageCaption(self, params, files):
        self._check_content(params)
        stored = self._existing(params)
        if "text" in stored:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        self._apply_edit(stored, params, caption=params.get("caption"))
        return self._as_message(params, stored)

    def _editMessageMedia(self, params, files):
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

    def _editMessageReplyMarkup(self, params, files):
        stored = self._existing(params)
        self._apply_edit(stored, params)
        return self._as_message(params, stored)

    def _deleteMessage(self, params, files):
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
