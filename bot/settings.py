"""Typed settings, read once from the environment and `.env`."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from bot.errors import ConfigError

DEFAULT_API_URL = "https://modelslab.com/api/agents/v1"
DOLLARS = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")


def _split_accounts(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    items = [item.strip() for item in str(value).split(",")]
    accounts = [item for item in items if item]
    for account in accounts:
        platform, _, user = account.partition(":")
        if not platform or not user:
            raise ValueError(f"{account!r} is not platform:id (e.g. slack:U123)")
    return accounts


class Settings(BaseSettings):
    """Everything an operator can set; see `.env.example` for each meaning."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    modelslab_api_url: str = DEFAULT_API_URL
    modelslab_token: SecretStr | None = None
    database_url: str = "sqlite:///paybot.db"

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    paybot_http_host: str = "127.0.0.1"
    paybot_http_port: int = Field(default=8080, ge=0, le=65535)
    paybot_approvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    paybot_approvals_required: int = Field(default=1, ge=1, le=50)
    paybot_allow_self_approval: bool = False
    paybot_auto_approve_max: Decimal = Field(default=Decimal(0), ge=0)
    paybot_topup_max: Decimal = Field(default=Decimal(1000), gt=0)
    paybot_allowed_chats: Annotated[list[str], NoDecode] = Field(default_factory=list)
    paybot_payer: str | None = None
    paybot_policy_file: str | None = None
    paybot_poll_grace_seconds: int = Field(default=900, ge=0)
    paybot_billing_calls_per_minute: int = Field(default=12, ge=1, le=1000)
    paybot_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    paybot_log_format: Literal["text", "json"] = "text"

    @field_validator("paybot_approvers", "paybot_allowed_chats", mode="before")
    @classmethod
    def _accounts(cls, value: object) -> list[str]:
        return _split_accounts(value)

    @field_validator("paybot_log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("paybot_auto_approve_max", "paybot_topup_max", mode="before")
    @classmethod
    def _dollars(cls, value: object) -> object:
        if isinstance(value, str) and not DOLLARS.fullmatch(value.strip()):
            raise ValueError("must be a dollar amount like 1000 or 12.50")
        return value

    @field_validator("paybot_payer")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return _split_accounts(value)[0] if value else None

    @field_validator(
        "modelslab_api_url", "slack_api_url", "telegram_api_url", "telegram_webhook_url"
    )
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        approvers = len(self.paybot_approvers)
        if approvers and self.paybot_approvals_required > approvers:
            raise ValueError(
                f"PAYBOT_APPROVALS_REQUIRED: {self.paybot_approvals_required} "
                f"approvals needed but PAYBOT_APPROVERS names only {approvers}"
            )
        if bool(self.slack_bot_token) != bool(self.slack_signing_secret):
            missing = (
                "SLACK_SIGNING_SECRET" if self.slack_bot_token else "SLACK_BOT_TOKEN"
            )
            raise ValueError(f"{missing}: the Slack adapter needs both tokens")
        return self

    @property
    def topup_max_cents(self) -> int:
        return int(self.paybot_topup_max * 100)

    @property
    def auto_approve_max_cents(self) -> int:
        return int(self.paybot_auto_approve_max * 100)


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names its variable
            raise ConfigError(message) from None
        raise ConfigError(f"{str(error['loc'][0]).upper()}: {message}") from None
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
