"""`make run`: start the painting engine and the Telegram bot together, and keep them running.

`python -m drawme.supervisor [--workers N]` validates the configuration first, then runs
`python -m engine serve` and `python -m bot` as child processes sharing one DATA_DIR. Without
BOT_TOKEN it first starts the local playground (drawme.playground.chat: a chat page and Bot API
emulator on 127.0.0.1:PLAYGROUND_PORT) and points the bot at it. A child that crashes is restarted
with exponential backoff (`restart_delay`); a child that exits 78 (EX_CONFIG: a bad setting, a token
Telegram rejected) is not, since a restart cannot fix it: the supervisor stops the others and exits
78 too. Ctrl-C or SIGTERM stops them all (SIGTERM, a grace period, then SIGKILL) and exits 0.
Standard library only (the playground, when used, brings aiohttp).

In production use one process per role instead (deploy/compose.yaml or the systemd units), so the
platform restarts them; this module is for one host and the developer's terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

from drawme import entry
from drawme.config import EX_CONFIG, BotConfig, EngineConfig, PlaygroundConfig, load_env
from drawme.logs import setup_logging
from drawme.privacy import secure_data_dir

log = logging.getLogger("drawme.supervisor")

STOP_TIMEOUT = 10.0  # seconds a child gets after SIGTERM before SIGKILL
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a child that ran this long is healthy again: its backoff starts over
# SIGHUP too: the children sit in their own process group, so a closed terminal must not orphan them.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def restart_delay(crashes: int, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait before restarting a child that crashed `crashes` times in a row (1, 2, ...).

    Doubles from `first` up to `cap`: 1, 2, 4, 8, 16, 30, 30, ... with the defaults.
    """
    if crashes < 1:
        raise ValueError("crashes counts from 1")
    return min(cap, first * 2 ** min(crashes - 1, 64))


def default_commands(workers: int = 1) -> dict[str, list[str]]:
    """The processes `make run` starts: `workers` engine workers and one bot."""
    engine = [sys.executable, "-m", "engine", "serve"]
    names = ["engine"] if workers == 1 else [f"engine-{n}" for n in range(1, workers + 1)]
    commands = {name: list(engine) for name in names}
    commands["bot"] = [sys.executable, "-m", "bot"]
    return commands


class Child:
    """One supervised command: started, watched, restarted with backoff, stopped on request."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None, stop_timeout: float,
                 backoff_first: float, backoff_max: float, stable_after: float) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.stop_timeout = stop_timeout
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.delays: list[float] = []  # every restart delay so far, in order
        self.config_error = False  # exited EX_CONFIG: not restarted

    async def run(self, stopping: asyncio.Event) -> None:
        """Keep the command running until `stopping` is set (or it exits EX_CONFIG), then stop it."""
        crashes = 0
        while not stopping.is_set():
            started = time.monotonic()
            try:
                # Own process group: a Ctrl-C in the terminal reaches only the supervisor, which
                # then stops the children in order instead of racing them.
                self.process = await asyncio.create_subprocess_exec(
                    *self.argv, env=self.env, stdin=asyncio.subprocess.DEVNULL, process_group=0
                )
            except OSError as error:
                log.error("%s could not start: %s", self.name, error, extra={"event": "start_failed"})
                code = None
            else:
                self.starts += 1
                log.info("%s started (pid %d)", self.name, self.process.pid, extra={"event": "started"})
                code = await self._wait(stopping)
            if stopping.is_set():
                await self.stop()
                break
            if code == EX_CONFIG:
                self.config_error = True
                log.error("%s exited with code %d (configuration error, see its message above); not "
                          "restarting it: a restart cannot fix a setting", self.name, code,
                          extra={"event": "config_error"})
                return
            crashes = 1 if time.monotonic() - started >= self.stable_after else crashes + 1
            delay = restart_delay(crashes, self.backoff_first, self.backoff_max)
            self.delays.append(delay)
            log.warning("%s exited with code %s; restarting in %.1f s (crash %d in a row; the wait doubles "
                        "up to %.0f s)", self.name, code, delay, crashes, self.backoff_max,
                        extra={"event": "restart", "attempts": crashes})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    def signal(self, signum: int) -> None:
        """Send `signum` to the child if it is running."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    async def _wait(self, stopping: asyncio.Event) -> int | None:
        """Until the child exits (its code) or a stop is requested (None)."""
        assert self.process is not None
        exited = asyncio.ensure_future(self.process.wait())
        stop_requested = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({exited, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        stop_requested.cancel()
        return exited.result() if exited.done() else None

    async def stop(self) -> None:
        """SIGTERM, wait up to `stop_timeout` seconds, then SIGKILL."""
        if self.process is None or self.process.returncode is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), self.stop_timeout)
        except TimeoutError:
            log.warning("%s did not stop within %.0f s; killing it", self.name, self.stop_timeout,
                        extra={"event": "killed"})
            self.signal(signal.SIGKILL)
            await self.process.wait()
        log.info("%s stopped (code %s)", self.name, self.process.returncode, extra={"event": "stopped"})


class Supervisor:
    """Runs `commands` ({name: argv}) as children until SIGTERM/SIGINT/SIGHUP or `stop()`.

    `commands` defaults to the engine worker and the bot; tests pass stand-in commands.
    """

    def __init__(self, commands: Mapping[str, Sequence[str]] | None = None, *,
                 env: Mapping[str, str] | None = None, stop_timeout: float = STOP_TIMEOUT,
                 backoff_first: float = BACKOFF_FIRST, backoff_max: float = BACKOFF_MAX,
                 stable_after: float = STABLE_AFTER) -> None:
        commands = default_commands() if commands is None else commands
        self.children = [Child(name, argv, env, stop_timeout, backoff_first, backoff_max, stable_after)
                         for name, argv in commands.items()]
        self._stopping: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask for a clean stop (what SIGTERM and Ctrl-C do). A second call kills at once."""
        if self._stopping is None:
            return
        if self._stopping.is_set():
            log.warning("second stop request: killing the children now")
            for child in self.children:
                child.signal(signal.SIGKILL)
            return
        log.info("stopping", extra={"event": "stopping"})
        self._stopping.set()

    async def run(self) -> int:
        """Start every child, restart those that crash; 0 once all stopped, 78 after a config error."""
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        entry.handle_loop_exceptions(loop)
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.stop)
        try:
            # Each child's watcher returns once it has stopped its child (after a stop request), or
            # when its child exited on a configuration error: then the others are stopped too.
            watchers = [asyncio.ensure_future(child.run(self._stopping)) for child in self.children]
            for finished in asyncio.as_completed(watchers):
                await finished
                if any(child.config_error for child in self.children) and not self._stopping.is_set():
                    log.error("stopping the others: fix the configuration, then start again")
                    self._stopping.set()
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        return EX_CONFIG if any(child.config_error for child in self.children) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make run` / `python -m drawme.supervisor`."""
    parser = argparse.ArgumentParser(prog="python -m drawme.supervisor", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="engine workers to run on this host, sharing the job store (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    env = load_env()
    playground = None
    if not env.get("BOT_TOKEN", "").strip():  # try it without Telegram: the local chat page instead
        from drawme.playground.chat import Playground  # aiohttp only when it is used

        playground = Playground(PlaygroundConfig.from_env(env))
        env = {**env, **playground.bot_env()}
    # Fail fast, before starting anything, with the message the child would print (ConfigError: 78).
    bot_config = BotConfig.from_env(env)
    EngineConfig.from_env(env)
    common = bot_config.common
    setup_logging(common, "supervisor")
    secure_data_dir(common.data_dir)
    # Both children must see the same data directory whatever their working directory.
    child_env = {**os.environ, **(playground.bot_env() if playground else {}),
                 "DATA_DIR": str(common.data_dir.resolve())}
    log.info("data in %s; starting %d engine worker(s) and the bot", common.data_dir.resolve(), args.workers)
    supervisor = Supervisor(default_commands(args.workers), env=child_env)
    return asyncio.run(playground.serve(supervisor.run) if playground else supervisor.run())


if __name__ == "__main__":
    sys.exit(entry.run("drawme", main))
