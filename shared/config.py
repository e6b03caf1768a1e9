"""Settings shared by every worker and tool, read from flags or ``TIENDO_*`` environment variables."""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster. Secrets are ``SecretStr`` so they never print or log."""

    model_config = SettingsConfigDict(env_prefix="TIENDO_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL/SASL_SSL; system CAs if unset.")
    namespace: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]{0,40}$",
        description="Prefix of every project topic and consumer group: several pipelines can share a cluster.",
    )
    replication_factor: int = Field(
        1, ge=1, description="Replicas of every topic tiendo creates (its own and Faust's); 3 in production."
    )
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of every topic tiendo creates: an acks=all write is acknowledged once this "
        "many replicas have it (default: replication_factor - 1, at least 1).",
    )

    @model_validator(mode="after")
    def _replication(self) -> KafkaSettings:
        if self.min_isr > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_isr}) cannot exceed replication_factor ({self.replication_factor}): "
                "the broker would refuse every acks=all write"
            )
        return self

    @property
    def min_isr(self) -> int:
        """The topics' min.insync.replicas: the setting, or its default for the replication factor."""
        return self.min_insync_replicas if self.min_insync_replicas is not None else max(1, self.replication_factor - 1)

    def topic(self, name: str) -> str:
        """A project topic's name in this namespace."""
        return f"{self.namespace}{name}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        return kwargs
