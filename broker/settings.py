"""Typed broker settings: a pydantic-settings model, read once from the environment.

Every package's settings (``broker``, ``jobs``, ``webapp``) derive from :class:`EnvSettings`:
constructing a model reads nothing, ``Model.from_env()`` reads the environment (or a mapping
given in its place) once, and the result is passed to whoever needs it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from broker import redact

log = logging.getLogger(__name__)

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
LOCAL_ENVIRONMENTS = frozenset({"development", "test"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address to bind) reaches this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class UnsafeSettingsError(RuntimeError):
    """Settings that must not run here (a default secret outside development, ...); the
    message lists every problem found, one per line."""

    def __init__(self, problems: str | list[str]) -> None:
        listed = [problems] if isinstance(problems, str) else list(problems)
        self.problems = listed
        if len(listed) == 1:
            super().__init__(listed[0])
        else:
            lines = "".join(f"\n  - {p}" for p in listed)
            super().__init__(f"refusing to start, {len(listed)} problems:{lines}")


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The one override: tests and callers pass the environment in rather than patch it.
        # An empty variable counts as unset, as it did before the move to pydantic-settings.
        fold = (lambda k: k) if self.case_sensitive else str.lower
        return {fold(k): v for k, v in self._mapping.items() if v != ""}


class EnvSettings(BaseSettings):
    """A frozen settings model whose environment is read only by :meth:`from_env`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructing a model reads nothing: the environment is read once, by from_env.
        return (init_settings,)

    @classmethod
    def env_values(cls, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The values this model's variables have in ``env`` (default: the process's)."""
        return _MappingEnvSource(cls, os.environ if env is None else env)()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, check: bool = True) -> Self:
        """Read this model's variables; anything unset keeps its local default.

        A bad value raises :class:`SettingsError` naming the variable (and never echoing
        the other values, which hold credentials). Then, unless ``check`` is False (a model
        read as part of a larger one), :meth:`check_safe` refuses unsafe settings.
        """
        try:
            settings = cls(**{**cls.nested_from_env(env), **cls.env_values(env)})
        except ValidationError as exc:
            raise SettingsError(exc) from None
        return settings.check_safe() if check else settings

    def refusals(self) -> list[str]:
        """Why these settings (this model alone) must not run; none by default."""
        return []

    def cautions(self) -> list[str]:
        """What is allowed but worth a warning at start."""
        return []

    def _tree(self) -> list[EnvSettings]:
        nested = [getattr(self, name) for name in type(self).model_fields]
        found: list[EnvSettings] = []
        for value in nested:
            if isinstance(value, EnvSettings):
                found += value._tree()
        return [*found, self]

    def check_safe(self) -> Self:
        """Raise UnsafeSettingsError listing every refusal of this model and the models in
        it, all at once; log the cautions."""
        tree = self._tree()
        problems = list(dict.fromkeys(p for model in tree for p in model.refusals()))
        if problems:
            raise UnsafeSettingsError(problems)
        for caution in dict.fromkeys(c for model in tree for c in model.cautions()):
            log.warning("%s", caution)
        return self

    @classmethod
    def nested_from_env(cls, env: Mapping[str, str] | None) -> dict[str, Any]:
        """Values built from other models' variables (nested settings, derived defaults)."""
        return {}


class SettingsError(ValueError):
    """One or more variables have values that cannot be used; the message names each."""

    def __init__(self, error: ValidationError) -> None:
        lines = []
        for item in error.errors(include_url=False):
            message = item["msg"].removeprefix("Value error, ")
            if item["loc"]:  # a value that did not parse: name the variable and what it got
                variable = str(item["loc"][0]).upper()
                message = f"{variable}: {message}, got {redact.text(repr(item['input']))}"
            lines.append(message)
        super().__init__("; ".join(lines))


def comma_separated(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class BrokerSettings(EnvSettings):
    """Where RabbitMQ is and how Beatkeeper's topology is named there.

    ``prefix`` namespaces every exchange and queue so that several deployments
    (or test sessions) can share one vhost without touching each other.
    """

    url: str = Field(default=DEFAULT_BROKER_URL, validation_alias="BEATKEEPER_BROKER_URL")
    management_url: str = Field(
        default=DEFAULT_MANAGEMENT_URL, validation_alias="BEATKEEPER_RABBITMQ_MANAGEMENT_URL"
    )
    prefix: str = Field(default="beatkeeper", validation_alias="BEATKEEPER_QUEUE_PREFIX")
    queues: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("default", "slow"), validation_alias="BEATKEEPER_QUEUES"
    )
    delivery_limit: int = Field(default=20, validation_alias="BEATKEEPER_DELIVERY_LIMIT")
    hold_shards: int = Field(default=4, validation_alias="BEATKEEPER_HOLD_SHARDS")
    # x-quorum-initial-group-size of every queue Beatkeeper declares; None: RabbitMQ's default.
    quorum_group_size: int | None = Field(
        default=None, ge=1, le=9, validation_alias="BEATKEEPER_QUORUM_GROUP_SIZE"
    )
    environment: str = Field(default="development", validation_alias="BEATKEEPER_ENV")
    heartbeat: int = Field(default=60, validation_alias="BEATKEEPER_BROKER_HEARTBEAT")
    connect_timeout: float = Field(
        default=5.0, validation_alias="BEATKEEPER_BROKER_CONNECT_TIMEOUT"
    )

    # TLS to RabbitMQ: on with an amqps:// URL, BEATKEEPER_BROKER_USE_SSL=true or any file
    # below; the server's certificate is always verified (against the CA file if given).
    use_ssl: bool | None = Field(default=None, validation_alias="BEATKEEPER_BROKER_USE_SSL")
    ssl_ca: str | None = Field(default=None, validation_alias="BEATKEEPER_BROKER_SSL_CA")
    ssl_cert: str | None = Field(default=None, validation_alias="BEATKEEPER_BROKER_SSL_CERT")
    ssl_key: str | None = Field(default=None, validation_alias="BEATKEEPER_BROKER_SSL_KEY")

    _split_queues = field_validator("queues", mode="before")(comma_separated)

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse settings that are wrong anywhere, and default credentials outside development."""
        if not self.queues:
            raise ValueError("BEATKEEPER_QUEUES must name at least one queue")
        if self.delivery_limit < 1:
            raise ValueError("BEATKEEPER_DELIVERY_LIMIT must be at least 1")
        if not 1 <= self.hold_shards <= 64:
            raise ValueError("BEATKEEPER_HOLD_SHARDS must be between 1 and 64")
        if not self.prefix or any(c in self.prefix for c in " #*"):
            raise ValueError("BEATKEEPER_QUEUE_PREFIX must be non-empty and free of ' ', '#', '*'")
        if self.connect_timeout <= 0:
            raise ValueError("BEATKEEPER_BROKER_CONNECT_TIMEOUT must be above 0 seconds")
        self._check_tls()
        return self

    def refusals(self) -> list[str]:
        """Outside development: no guest account, no empty user or password."""
        if self.is_local:
            return []
        found = []
        for name, url in (
            ("BEATKEEPER_BROKER_URL", self.url),
            ("BEATKEEPER_RABBITMQ_MANAGEMENT_URL", self.management_url),
        ):
            parts = urlsplit(url)
            if parts.username in (None, "", "guest") or parts.password in (None, "", "guest"):
                found.append(
                    f"{name} uses the default guest account, no account or an empty password "
                    f"while BEATKEEPER_ENV={self.environment!r}; set a dedicated user and password"
                )
        return found

    def _check_tls(self) -> None:
        files = {
            "BEATKEEPER_BROKER_SSL_CA": self.ssl_ca,
            "BEATKEEPER_BROKER_SSL_CERT": self.ssl_cert,
            "BEATKEEPER_BROKER_SSL_KEY": self.ssl_key,
        }
        missing = [f"{k}={v!r}" for k, v in files.items() if v and not Path(v).is_file()]
        if missing:
            raise ValueError(f"no such file: {', '.join(missing)}")
        if bool(self.ssl_cert) != bool(self.ssl_key):
            raise ValueError("BEATKEEPER_BROKER_SSL_CERT and BEATKEEPER_BROKER_SSL_KEY go together")
        if self.use_ssl is False and (self.scheme == "amqps" or any(files.values())):
            raise ValueError(
                "BEATKEEPER_BROKER_USE_SSL=false contradicts an amqps:// BEATKEEPER_BROKER_URL "
                "or a BEATKEEPER_BROKER_SSL_* file"
            )

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()

    @property
    def tls(self) -> bool:
        """Whether connections to RabbitMQ use TLS."""
        if self.use_ssl is not None:
            return self.use_ssl
        return self.scheme == "amqps" or bool(self.ssl_ca or self.ssl_cert)

    @property
    def ssl_options(self) -> dict[str, Any] | None:
        """TLS options for kombu (``broker_use_ssl``) and py-amqp (``ssl=``); None: plain AMQP."""
        if not self.tls:
            return None
        options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED}
        if self.ssl_ca:
            options["ca_certs"] = self.ssl_ca
        if self.ssl_cert:
            options["certfile"] = self.ssl_cert
            options["keyfile"] = self.ssl_key
        return options

    @property
    def default_port(self) -> int:
        """The port when the URL names none: 5671 for AMQP over TLS, else 5672."""
        return 5671 if self.tls else 5672

    @property
    def is_local(self) -> bool:
        return self.environment in LOCAL_ENVIRONMENTS

    @property
    def vhost(self) -> str:
        """The broker URL's virtual host, as AMQP clients read it (``amqp://h//`` is ``/``)."""
        path = urlsplit(self.url).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    @property
    def management_api(self) -> str:
        """The management URL without a trailing slash."""
        return self.management_url.rstrip("/")
