"""How every drawme process starts and ends: private files, no secret in any output, one-line exits.

Each command's `__main__` (and console script) runs its `main` through `run(process, main)`, which

- sets the umask to 0o077, so every file and directory the process creates is owner-only;
- registers the secret settings' values with the redactor and puts it in front of stdout and stderr,
  so a traceback, a warning or a print cannot carry the bot token or a database password out;
- routes sys.excepthook, threading.excepthook and warnings through the (redacting) log formatter;
- catches what escapes `main`: a ConfigError prints one line and exits 78 (EX_CONFIG, which the
  supervisor does not restart); anything else is logged with its traceback, redacted, and ends with
  one line and exit 1.

`handle_loop_exceptions(loop)` does the same for an asyncio loop's unhandled errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from drawme.config import EX_CONFIG, CommonConfig, ConfigError, load_env, secret_values
from drawme.logs import add_secrets, redact, setup_logging

log = logging.getLogger("drawme")

EX_CRASHED = 1
EX_INTERRUPTED = 130
PRIVATE_UMASK = 0o077  # directories 0700, files 0600


class RedactingStream(io.TextIOBase):
    """A text stream that passes everything written through `redact` to the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.wrapped = stream

    def write(self, text: str) -> int:
        self.wrapped.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None)


def say(process: str, message: str) -> None:
    """The process's last word: one line on stderr, redacted."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "stopped"
    sys.stderr.write(redact(f"{process}: {first}") + "\n")
    sys.stderr.flush()


def _excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)  # nothing secret in it; keeps Ctrl-C's usual behaviour
        return
    log.critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error("uncaught %s in thread %s", args.exc_type.__name__, name,
              exc_info=args.exc_value)


def _loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    error = context.get("exception")
    message = context.get("message", "unhandled error in the event loop")
    log.error("%s", message, exc_info=(type(error), error, error.__traceback__) if error else None)


def handle_loop_exceptions(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Log the loop's unhandled errors (a task's exception nobody retrieved...) through the redactor."""
    (loop or asyncio.get_running_loop()).set_exception_handler(_loop_exception_handler)


def protect(process: str) -> None:
    """Everything `run` sets up before `main`: umask, redacted streams and hooks, fallback logging."""
    os.umask(PRIVATE_UMASK)
    # An unreadable .env: the command itself will say so; the token pattern still masks tokens.
    with contextlib.suppress(OSError):
        add_secrets(secret_values(load_env()))
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
    if not logging.getLogger().handlers:  # until main sets up logging from the configuration, if it does
        setup_logging(CommonConfig(log_level="WARNING"), process)
    logging.captureWarnings(True)  # warnings go through the formatter, not straight to stderr
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def run(process: str, main: Callable[[], int | None]) -> int:
    """Run a process's `main` protected (see the module docstring); returns its exit status."""
    protect(process)
    try:
        return int(main() or 0)
    except ConfigError as error:
        say(process, f"configuration error: {error}")
        return EX_CONFIG
    except KeyboardInterrupt:
        say(process, "interrupted")
        return EX_INTERRUPTED
    except Exception as error:
        log.critical("%s stopped by an unexpected error", process, exc_info=True)
        say(process, f"stopped by an unexpected error ({type(error).__name__}: {error}); "
                     "the log above has the details")
        return EX_CRASHED
