"""A user's data as one zip, for a data request: the operator's `admin export USER_ID` and the user's
own /export give the same archive.

`user.json` holds the record (settings, images, jobs: `BotBackend.export_user`); `files/<key>` each
stored file of theirs (their photos and style pictures, previews, paintings) still kept.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from drawme.backend import BotBackend


async def user_archive(backend: BotBackend, user_id: int) -> tuple[bytes, int]:
    """The zip of everything stored about `user_id`, and how many files went in (files already
    purged are simply absent)."""
    record = await backend.export_user(user_id)
    contents = await backend.export_files(record["files"])
    return archive(record, contents), len(contents)


def archive(record: dict[str, Any], contents: dict[str, bytes]) -> bytes:
    """`record` as user.json and each file under files/, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("user.json", json.dumps(record, indent=2, default=str))
        for key, data in sorted(contents.items()):
            zipped.writestr(f"files/{key}", data)
    return buffer.getvalue()
