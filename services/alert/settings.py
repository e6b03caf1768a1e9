"""Settings of the alert worker (flags or ``TIENDO_*`` environment variables)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from shared.alerting import Thresholds
from shared.faustapp import WorkerSettings


class ThresholdSettings(BaseModel):
    """Per-indicator overrides of the behind-plan thresholds."""

    warning: Decimal = Decimal("0.9")
    critical: Decimal = Decimal("0.75")
    resolve_margin: Decimal = Decimal("0.05")
    min_elapsed_days: int = Field(20, ge=0, le=366)
    implausible_factor: Decimal = Field(
        Decimal(200), gt=1, description="Reading/expected beyond this (or its inverse) is a misread figure."
    )
    shortfall_margin: Decimal = Field(
        Decimal("0.10"),
        ge=0,
        lt=1,
        description="TiendoForecastShortfall: the year-end projection below plan by more than this share of the "
        "target (resolves at resolve_margin less).",
    )

    def to_thresholds(self) -> Thresholds:
        return Thresholds(
            self.warning,
            self.critical,
            self.resolve_margin,
            self.min_elapsed_days,
            self.implausible_factor,
            self.shortfall_margin,
        )


class AlertSettings(WorkerSettings):
    web_port: int = Field(
        6068, ge=1, le=65535, description="HTTP port for /metrics, /health, /alerts, /forecast and /ranking."
    )
    alertmanager_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Alertmanager base URLs, comma-separated; alerts go to POST /api/v2/alerts.",
    )
    webhook_url: str | None = Field(None, description="Optional generic webhook receiving every alert change.")
    clock: Literal["wall", "event"] = Field(
        "wall", description="wall: evaluate at the current time; event: at the latest as_of seen (replays, tests)."
    )
    evaluate_interval_s: float = Field(30.0, gt=0, description="Timer evaluation period (seconds).")
    resend_interval_s: float = Field(60.0, gt=0, description="Re-send firing alerts this often (seconds).")
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    threshold_overrides: dict[str, ThresholdSettings] = Field(
        default_factory=dict, description='Per indicator, e.g. {"site_clearance_area": {"warning": 0.85}}.'
    )
    runbook_url: str = Field(
        "docs/runbook.md", description="Runbook link put in alert annotations (anchor per alert name)."
    )
    digest_dir: Path | None = Field(
        None,
        description="Where the weekly digest is written (tiendo-digest-<week>.html and .md) at digest_weekday "
        "digest_time, Vietnam time, by the replica owning partition 0; none: on demand only (GET /digest).",
    )
    digest_weekday: int = Field(4, ge=0, le=6, description="Weekday of the weekly digest: 0 Monday ... 4 Friday.")
    digest_time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, Vietnam time.")

    @property
    def valid_for_s(self) -> float:
        """How long a firing alert sent now stays firing at Alertmanager without a re-send (its ``endsAt``)."""
        return max(300.0, 5 * self.resend_interval_s)

    @field_validator("alertmanager_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]
        return value
