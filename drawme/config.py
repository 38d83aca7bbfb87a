"""All configuration, in one typed place: dataclasses read from the environment and `.env`.

The environment wins over `.env`; `.env` wins over the defaults below. Nothing here imports torch
or Telegram, so both processes (and the tests) can load it cheaply.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from drawme.painting import AUTO, Precision


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it.

    Every process exits with EX_CONFIG (78) on it, and the supervisor does not restart it."""


EX_CONFIG = 78  # sysexits.h: "configuration error"; the supervisor does not restart such a process

# Settings whose values must never reach any output (drawme.logs.redact masks them), besides any
# setting named like a secret (SECRET_NAME); of a URL (DATABASE_URL) only the password is secret.
SECRET_SETTINGS = ("BOT_TOKEN", "DATABASE_URL")
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|PASSPHRASE|API_KEY)$")
MIN_SECRET_LENGTH = 6  # shorter values ("1", "yes") would mask ordinary words


def secret_values(env: Mapping[str, str]) -> dict[str, str]:
    """{exact secret value: its mask} for the redactor, from the effective settings `env`."""
    found: dict[str, str] = {}
    for key, raw in env.items():
        value = raw.strip()
        if "://" in value:  # a URL is readable in errors; only its password is secret
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.update({password: "<password>", unquote(password): "<password>"})
        elif key.endswith("BOT_TOKEN"):
            # The part after the colon is the secret; the bot id before it is public.
            found.update({value: "<token>", value.partition(":")[2]: "<token>"})
        elif key in SECRET_SETTINGS or SECRET_NAME.search(key.upper()):
            found[value] = "<secret>"
    return {value: mask for value, mask in found.items() if len(value) >= MIN_SECRET_LENGTH}


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes. Missing file: {}."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_env(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """The effective settings: `.env` (default ./.env) overlaid by the real environment."""
    merged = read_dotenv(dotenv if dotenv is not None else Path(".env"))
    merged.update(os.environ if environ is None else environ)
    return merged


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], key: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {raw}")
    return value


def _port(env: Mapping[str, str], key: str) -> int | None:
    """A TCP port to listen on, or None when the variable is empty (the feature is off)."""
    if not env.get(key, "").strip():
        return None
    port = _int(env, key, 0, 1)
    if port > 65535:
        raise ConfigError(f"{key} must be a TCP port (1-65535) or empty, got {port}")
    return port


PRECISIONS = (AUTO, *Precision)


def _precision(env: Mapping[str, str]) -> str:
    value = env.get("ENGINE_PRECISION", AUTO).strip().lower() or AUTO
    if value not in PRECISIONS:
        raise ConfigError(f"ENGINE_PRECISION must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def _int_list(env: Mapping[str, str], key: str) -> tuple[int, ...]:
    raw = env.get(key, "").replace(";", ",")
    try:
        return tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{key} must be comma-separated whole numbers, got {raw!r}") from None


@dataclass(frozen=True)
class Limits:
    """Fair-use limits, enforced inside the job store's enqueue transaction."""

    max_queued_per_user: int = 3
    max_queue: int = 200
    daily_quota: int = 50
    max_attempts: int = 3
    retention_days: float = 7.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_queued_per_user=_int(env, "MAX_QUEUED_PER_USER", cls.max_queued_per_user, 1),
            max_queue=_int(env, "MAX_QUEUE", cls.max_queue, 1),
            daily_quota=_int(env, "DAILY_QUOTA", cls.daily_quota, 1),
            max_attempts=_int(env, "MAX_ATTEMPTS", cls.max_attempts, 1),
            retention_days=_float(env, "RETENTION_DAYS", cls.retention_days, 0.0),
        )


@dataclass(frozen=True)
class Sizes:
    """Output long side in pixels for /size small, medium and large."""

    small: int
    medium: int
    large: int

    def as_dict(self) -> dict[str, int]:
        return {"small": self.small, "medium": self.medium, "large": self.large}

    def within(self, largest: int) -> Sizes:
        """These sizes, none over `largest` px (what the painters can make)."""
        return Sizes(min(self.small, largest), min(self.medium, largest), min(self.large, largest))


SIZE_NAMES = ("small", "medium", "large")  # the keys of Sizes.as_dict()
CPU_SIZES = Sizes(small=256, medium=384, large=512)
GPU_SIZES = Sizes(small=512, medium=768, large=1024)
# The playground's sizes (no BOT_TOKEN) unless PAINT_SIZES is set: a newcomer's first painting arrives
# within a minute of the tap on an idle 2-core CPU. Its default, 256 px, paints in about 30 s there;
# 384 px takes about 45 s, too close to the minute for a slower laptop or a first painting's warm-up
# (docs/PERFORMANCE.md, "Where one painting's time goes").
PLAYGROUND_SIZES = Sizes(small=192, medium=256, large=384)


def _sizes(env: Mapping[str, str], key: str) -> Sizes | None:
    values = _int_list(env, key)
    if not values:
        return None
    if len(values) != 3 or not 16 <= values[0] <= values[1] <= values[2] <= 4096:
        raise ConfigError(f"{key} must be three increasing sizes in px, e.g. 256,384,512")
    return Sizes(*values)


@dataclass(frozen=True)
class CommonConfig:
    """Settings both processes share: where the data lives and how to log."""

    data_dir: Path = Path("data")
    log_level: str = "INFO"
    log_format: str = "text"  # "text" or "json"
    limits: Limits = field(default_factory=Limits)
    # Empty: the embedded SQLite store at db_path (one machine). postgresql://...: PostgreSQL, for
    # several machines; job files then live in the database too, so a GPU host needs only this URL.
    # A secret (its password is masked in every output); repr=False keeps it out of reprs.
    database_url: str = field(default="", repr=False)
    db_pool_size: int = 5  # PostgreSQL connections per process (psycopg_pool)

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url)

    # The data directory's layout. Job files (pictures, previews, paintings) live inside the job
    # store and only drawme.store reads them; what is left here is per-process.
    @property
    def db_path(self) -> Path:
        return self.data_dir / "drawme.sqlite3"

    @property
    def cache_dir(self) -> Path:  # presets' style targets (Gram matrices)
        return self.data_dir / "cache"

    @property
    def health_dir(self) -> Path:  # heartbeat files of the running processes
        return self.data_dir / "health"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CommonConfig:
        log_format = env.get("LOG_FORMAT", "text").strip().lower() or "text"
        if log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be 'text' or 'json', got {log_format!r}")
        return cls(
            data_dir=Path(env.get("DATA_DIR", "").strip() or "data"),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
            log_format=log_format,
            limits=Limits.from_env(env),
            database_url=_database_url(env),
            db_pool_size=_int(env, "DB_POOL_SIZE", cls.db_pool_size, 1),
        )


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"DATABASE_URL must be a postgresql:// URL (or empty for the embedded SQLite store), got {url!r}"
        )
    return url


@dataclass(frozen=True)
class EngineConfig:
    """The painting worker: which device, how long a lease lasts, how big a painting may be."""

    common: CommonConfig
    device: str = "auto"  # auto | cuda | mps | cpu
    # auto: bfloat16 convolutions on a GPU or a CPU with native bfloat16, else float32 (engine.painter)
    precision: str = AUTO  # one of PRECISIONS: auto | float32 | bfloat16
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5
    max_size: int = 0  # 0: the device's "large" size
    worker_id: str = ""
    # The bot's PAINT_SIZES, read here too so the worker can refuse at start what its device cannot fit.
    paint_sizes: Sizes | None = None
    # At most this many jobs painted together (GPU only; fewer when free memory says so). 16 paints 6×
    # the jobs per minute of one at a time on an H200 (docs/PERFORMANCE.md "On the GPU"). 1: no batches.
    max_batch: int = 16
    metrics_port: int | None = None  # ENGINE_METRICS_PORT: Prometheus' /metrics here; None: off

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineConfig:
        env = load_env() if env is None else env
        return cls(
            common=CommonConfig.from_env(env),
            device=env.get("ENGINE_DEVICE", "auto").strip().lower() or "auto",
            precision=_precision(env),
            lease_seconds=_float(env, "LEASE_SECONDS", cls.lease_seconds, 2.0),
            poll_seconds=_float(env, "POLL_SECONDS", cls.poll_seconds, 0.05),
            max_size=_int(env, "MAX_SIZE", cls.max_size, 0),
            worker_id=env.get("WORKER_ID", "").strip(),
            paint_sizes=_sizes(env, "PAINT_SIZES"),
            max_batch=_int(env, "MAX_BATCH", cls.max_batch, 1),
            metrics_port=_port(env, "ENGINE_METRICS_PORT"),
        )


@dataclass(frozen=True)
class PlaygroundConfig:
    """`make run` without BOT_TOKEN: the local chat page and Bot API emulator, on 127.0.0.1 only."""

    port: int = 8080
    language: str = "en"  # the page's user's language_code, as a Telegram client would send it
    sizes: Sizes = PLAYGROUND_SIZES  # what the page's bot paints at (and the page says)
    sizes_chosen: bool = False  # True: PAINT_SIZES is set, the bot reads it itself

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PlaygroundConfig:
        port = _int(env, "PLAYGROUND_PORT", cls.port, 1)
        if port > 65535:
            raise ConfigError(f"PLAYGROUND_PORT must be a TCP port (1-65535), got {port}")
        language = env.get("PLAYGROUND_LANGUAGE", "").strip() or cls.language
        if not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", language):
            raise ConfigError(f"PLAYGROUND_LANGUAGE must be a language code (en, ru...), got {language!r}")
        chosen = _sizes(env, "PAINT_SIZES")
        sizes = chosen or PLAYGROUND_SIZES
        return cls(port=port, language=language, sizes=sizes, sizes_chosen=chosen is not None)


# The public Bot API lets bots download files up to 20 MB; a --local server has no such limit.
PUBLIC_API_DOWNLOAD_MB = 20
LOCAL_MODE_DOWNLOAD_MB = 100


def _flag(env: Mapping[str, str], key: str) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{key} must be 1 or 0, got {raw!r}")


TOKEN_REJECTED = (
    "Telegram rejected BOT_TOKEN; check it with @BotFather /token, and check TELEGRAM_API_URL if you set it."
)
BOTFATHER_HINT = (
    "BOT_TOKEN is not set. Talk to @BotFather in Telegram, send /newbot, and put the token it "
    "gives you into .env as BOT_TOKEN=123456:ABC... (see .env.example)."
)


def api_root(raw: str) -> str:
    """TELEGRAM_API_URL as the server root: `http://host:8081`, also when given as `.../bot`.

    The Bot API's method URLs are <root>/bot<token>/<method>: a root ending in /bot would otherwise
    be doubled. A URL that already carries a token, or any other path, is refused with a hint.
    """
    url = raw.strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("TELEGRAM_API_URL must be the Bot API server's root, e.g. http://127.0.0.1:8081")
    path = parts.path.removesuffix("/bot").removesuffix("/file")
    if re.search(r"/bot\d", path) or parts.query or parts.fragment:
        # Never echo the value: it may contain the token.
        raise ConfigError(
            "TELEGRAM_API_URL must be the Bot API server's root without the token, "
            "e.g. http://127.0.0.1:8081 (the bot adds /bot<token>/ itself)"
        )
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class BotConfig:
    """The Telegram side: token, admins, an optional self-hosted Bot API server."""

    common: CommonConfig
    token: str
    admin_ids: tuple[int, ...] = ()
    api_url: str = ""  # e.g. http://127.0.0.1:8081 for a self-hosted Bot API server
    # A self-hosted server started with --local: files are read from its disk, without the public
    # API's 20 MB download limit (the server's --dir must be mounted at the same path for the bot).
    local_mode: bool = False
    max_download_mb: int = PUBLIC_API_DOWNLOAD_MB
    poll_seconds: float = 1.5  # how often the bot looks at the store for progress
    edit_interval: float = 3.0  # at most one edit of a status message per this many seconds
    gpu: bool | None = None  # None: ask the registered workers; decides the /size limits
    sizes: Sizes | None = None  # PAINT_SIZES=small,medium,large overrides the CPU/GPU defaults
    recipe: str = "default"  # PAINT_RECIPE: the engine recipe new jobs use
    # Each chat may send `chat_burst` messages at once, then one more every `chat_refill_seconds`;
    # beyond that a burst gets one "slow down" answer (0 turns the throttle off).
    chat_burst: int = 8
    chat_refill_seconds: float = 2.0
    # Webhook mode (several bot instances behind a load balancer): Telegram POSTs updates to
    # webhook_url, which reaches this process at webhook_listen:webhook_port. Empty: long polling.
    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str = ""  # Telegram sends it back in a header; empty: derived from the token
    # This bot instance's name in the store (delivery leases, the inbox). Stable across restarts, so a
    # restarted bot resumes its own work at once; distinct per instance (default: the host name).
    instance: str = ""
    metrics_port: int | None = None  # BOT_METRICS_PORT: Prometheus' /metrics here; None: off

    @property
    def instance_name(self) -> str:
        return self.instance or socket.gethostname()

    @property
    def webhook_path(self) -> str:
        """The path part of webhook_url, which the bot's web server listens on."""
        return urlsplit(self.webhook_url).path.strip("/")

    @property
    def webhook_secret_token(self) -> str:
        """The secret_token for setWebhook: WEBHOOK_SECRET, or one derived from the bot token (so
        every instance agrees on it without another setting, and it reveals nothing of the token)."""
        return self.webhook_secret or hashlib.sha256(f"drawme-webhook:{self.token}".encode()).hexdigest()

    def sizes_for(self, gpu: bool) -> Sizes:
        return self.sizes or (GPU_SIZES if gpu else CPU_SIZES)

    @property
    def base_url(self) -> str | None:
        return f"{self.api_url}/bot" if self.api_url else None

    @property
    def base_file_url(self) -> str | None:
        return f"{self.api_url}/file/bot" if self.api_url else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotConfig:
        env = load_env() if env is None else env
        token = env.get("BOT_TOKEN", "").strip()
        if not token:
            raise ConfigError(BOTFATHER_HINT)
        gpu_raw = env.get("ENGINE_GPU", "").strip().lower()
        api_url = api_root(env.get("TELEGRAM_API_URL", ""))
        local_mode = _flag(env, "TELEGRAM_LOCAL_MODE")
        if local_mode and not api_url:
            raise ConfigError("TELEGRAM_LOCAL_MODE needs TELEGRAM_API_URL: the public API has no local mode")
        max_download_mb = _int(
            env, "MAX_DOWNLOAD_MB", LOCAL_MODE_DOWNLOAD_MB if local_mode else PUBLIC_API_DOWNLOAD_MB, 1
        )
        if max_download_mb > PUBLIC_API_DOWNLOAD_MB and not local_mode:
            raise ConfigError(
                f"MAX_DOWNLOAD_MB above {PUBLIC_API_DOWNLOAD_MB} needs a self-hosted Bot API server"
                " in --local mode (TELEGRAM_LOCAL_MODE=1)"
            )
        return cls(
            common=CommonConfig.from_env(env),
            token=token,
            admin_ids=_int_list(env, "ADMIN_IDS"),
            api_url=api_url,
            local_mode=local_mode,
            max_download_mb=max_download_mb,
            poll_seconds=_float(env, "BOT_POLL_SECONDS", cls.poll_seconds, 0.05),
            edit_interval=_float(env, "EDIT_INTERVAL", cls.edit_interval, 0.0),
            gpu={"1": True, "true": True, "0": False, "false": False}.get(gpu_raw),
            sizes=_sizes(env, "PAINT_SIZES"),
            recipe=env.get("PAINT_RECIPE", "").strip() or cls.recipe,
            chat_burst=_int(env, "CHAT_BURST", cls.chat_burst, 0),
            chat_refill_seconds=_float(env, "CHAT_REFILL_SECONDS", cls.chat_refill_seconds, 0.0),
            webhook_url=_webhook_url(env),
            webhook_listen=env.get("WEBHOOK_LISTEN", "").strip() or cls.webhook_listen,
            webhook_port=_int(env, "WEBHOOK_PORT", cls.webhook_port, 1),
            webhook_secret=_webhook_secret(env),
            instance=env.get("BOT_INSTANCE", "").strip(),
            metrics_port=_port(env, "BOT_METRICS_PORT"),
        )


def _webhook_url(env: Mapping[str, str]) -> str:
    url = env.get("WEBHOOK_URL", "").strip()
    if url and urlsplit(url).scheme not in ("https", "http"):
        raise ConfigError(f"WEBHOOK_URL must be an https:// address Telegram can reach, got {url!r}")
    return url


def _webhook_secret(env: Mapping[str, str]) -> str:
    secret = env.get("WEBHOOK_SECRET", "").strip()
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError("WEBHOOK_SECRET may hold only letters, digits, _ and -, at most 256 of them")
    return secret
