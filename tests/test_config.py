"""Configuration: environment over .env over defaults, with clear errors for bad values."""

from pathlib import Path

import pytest

from drawme.config import (
    BOTFATHER_HINT,
    CPU_SIZES,
    GPU_SIZES,
    BotConfig,
    ConfigError,
    EngineConfig,
    Sizes,
    load_env,
    read_dotenv,
)


def test_dotenv_parsing_handles_comments_quotes_and_export(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        '# comment\nBOT_TOKEN="123:abc"\nexport DATA_DIR=/srv/drawme\n\nJUNK\nADMIN_IDS=1, 2\n'
    )
    assert read_dotenv(env_file) == {"BOT_TOKEN": "123:abc", "DATA_DIR": "/srv/drawme", "ADMIN_IDS": "1, 2"}


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATA_DIR=from-dotenv\nLOG_LEVEL=debug\n")
    merged = load_env({"DATA_DIR": "from-env"}, env_file)
    assert merged["DATA_DIR"] == "from-env"
    assert merged["LOG_LEVEL"] == "debug"


def test_missing_token_explains_botfather() -> None:
    with pytest.raises(ConfigError) as error:
        BotConfig.from_env({})
    assert str(error.value) == BOTFATHER_HINT
    assert "@BotFather" in BOTFATHER_HINT


def test_bot_config_reads_everything() -> None:
    config = BotConfig.from_env(
        {
            "BOT_TOKEN": "1:x",
            "ADMIN_IDS": "10,20",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "DATA_DIR": "/tmp/d",
            "MAX_QUEUED_PER_USER": "5",
            "PAINT_SIZES": "64,80,96",
        }
    )
    assert config.admin_ids == (10, 20)
    assert config.base_url == "http://127.0.0.1:8081/bot"
    assert config.base_file_url == "http://127.0.0.1:8081/file/bot"
    assert config.common.db_path == Path("/tmp/d/drawme.sqlite3")
    assert config.common.limits.max_queued_per_user == 5
    assert config.sizes_for(gpu=True) == Sizes(64, 80, 96)


def test_local_mode_lifts_the_download_limit() -> None:
    public = BotConfig.from_env({"BOT_TOKEN": "1:x"})
    assert (public.local_mode, public.max_download_mb) == (False, 20)
    local = BotConfig.from_env(
        {"BOT_TOKEN": "1:x", "TELEGRAM_API_URL": "http://127.0.0.1:8081", "TELEGRAM_LOCAL_MODE": "1"}
    )
    assert (local.local_mode, local.max_download_mb) == (True, 100)
    with pytest.raises(ConfigError, match="TELEGRAM_API_URL"):
        BotConfig.from_env({"BOT_TOKEN": "1:x", "TELEGRAM_LOCAL_MODE": "1"})
    with pytest.raises(ConfigError, match="MAX_DOWNLOAD_MB"):
        BotConfig.from_env({"BOT_TOKEN": "1:x", "MAX_DOWNLOAD_MB": "50"})
    assert BotConfig.from_env({"BOT_TOKEN": "1:x", "MAX_DOWNLOAD_MB": "5"}).max_download_mb == 5


def test_default_sizes_depend_on_gpu() -> None:
    config = BotConfig.from_env({"BOT_TOKEN": "1:x"})
    assert config.base_url is None
    assert config.sizes_for(gpu=False) == CPU_SIZES
    assert config.sizes_for(gpu=True) == GPU_SIZES
    assert GPU_SIZES.large > CPU_SIZES.large


@pytest.mark.parametrize(
    ("reader", "key", "value"),
    [
        (BotConfig, "MAX_QUEUED_PER_USER", "many"),
        (BotConfig, "MAX_QUEUED_PER_USER", "0"),
        (EngineConfig, "LEASE_SECONDS", "-1"),
        (EngineConfig, "MAX_BATCH", "0"),
        (EngineConfig, "LOG_FORMAT", "xml"),
        (BotConfig, "PAINT_SIZES", "512,256,128"),
        (BotConfig, "ADMIN_IDS", "alice"),
    ],
)
def test_bad_values_name_the_setting(reader, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        reader.from_env({"BOT_TOKEN": "1:x", key: value})


def test_engine_config_defaults() -> None:
    config = EngineConfig.from_env({})
    assert config.device == "auto"
    assert config.common.data_dir == Path("data")
    assert config.common.limits.retention_days == 7
    assert config.max_batch == 16
    assert EngineConfig.from_env({"MAX_BATCH": "4"}).max_batch == 4
    assert config.precision == "auto"


@pytest.mark.parametrize("value", ["float32", "BFloat16 ", "auto", ""])
def test_engine_precision_is_read(value: str) -> None:
    assert EngineConfig.from_env({"ENGINE_PRECISION": value}).precision == (value.strip().lower() or "auto")


def test_engine_precision_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ConfigError, match="ENGINE_PRECISION must be one of auto, float32, bfloat16"):
        EngineConfig.from_env({"ENGINE_PRECISION": "fp16"})


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("", ""),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081"),  # understood, never doubled
        ("http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081"),
        ("https://example.org/telegram/bot", "https://example.org/telegram"),  # behind a reverse proxy
    ],
)
def test_telegram_api_url_is_the_server_root(given: str, root: str) -> None:
    from drawme.config import api_root

    assert api_root(given) == root


@pytest.mark.parametrize("given", ["https://api.telegram.org/bot123456:ABCdef/", "127.0.0.1:8081", "ftp://x"])
def test_a_telegram_api_url_with_a_token_or_no_scheme_is_refused_without_echoing_it(given: str) -> None:
    from drawme.config import api_root

    with pytest.raises(ConfigError) as refused:
        api_root(given)
    assert "TELEGRAM_API_URL" in str(refused.value) and "ABCdef" not in str(refused.value)


def test_secret_values_cover_the_token_url_passwords_and_secret_names() -> None:
    from drawme.config import secret_values

    found = secret_values(
        {
            "BOT_TOKEN": "123456:ABCDEFGHIJ",
            "DATABASE_URL": "postgresql://drawme:p%40ss-word@db:5432/drawme",
            "SMTP_PASSWORD": "letmein1",
            "DATA_DIR": "/var/lib/drawme",
            "MAX_SIZE": "1",
        }
    )
    assert found == {
        "123456:ABCDEFGHIJ": "<token>",
        "ABCDEFGHIJ": "<token>",
        "p%40ss-word": "<password>",
        "p@ss-word": "<password>",
        "letmein1": "<secret>",
    }


def test_database_url_selects_postgres_and_refuses_other_schemes():
    from drawme.config import CommonConfig, ConfigError

    assert CommonConfig.from_env({}).uses_postgres is False
    url = "postgresql://drawme:secret@db:5432/drawme"
    common = CommonConfig.from_env({"DATABASE_URL": url, "DB_POOL_SIZE": "8"})
    assert common.uses_postgres and common.database_url == url and common.db_pool_size == 8
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        CommonConfig.from_env({"DATABASE_URL": "mysql://x"})


def test_the_playground_users_language_is_a_language_code() -> None:
    from drawme.config import PlaygroundConfig

    assert PlaygroundConfig.from_env({}).language == "en"
    assert PlaygroundConfig.from_env({"PLAYGROUND_LANGUAGE": "ru"}).language == "ru"
    assert PlaygroundConfig.from_env({"PLAYGROUND_LANGUAGE": "pt-br"}).language == "pt-br"
    with pytest.raises(ConfigError, match="PLAYGROUND_LANGUAGE"):
        PlaygroundConfig.from_env({"PLAYGROUND_LANGUAGE": "Russian please"})
