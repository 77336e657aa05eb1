"""What reading one email depends on: its limits, stop-code tables, completeness rules, and the
addresses that are our own. The desk's settings (ingest.config) are these plus its own keys;
`metadata` holds the bounds that the config file's schema checks."""

from __future__ import annotations

from dataclasses import dataclass, field

# The defaults of SPEC §4's configurable parts (ingest.reading.completeness applies them). Here,
# not there: the settings are loaded by every command, the reader only with mail to read.
DEFAULT_REQUIRED = {
    "simple": ("operator", "description", "operator_findings"),
    "none": ("operator", "description", "operator_findings"),
    "detailed": ("operator", "order_no", "description", "operator_findings"),
}
DEFAULT_BILLING_WORDS = (
    "充电",
    "账单",
    "订单",
    "扣费",
    "计费",
    "电量",
    "退款",
    "费用",
    "金额",
    "余额",
    "停止",
    "充不上",
)


@dataclass
class Rules:
    """The configurable parts of SPEC §4."""

    required: dict = field(default_factory=lambda: dict(DEFAULT_REQUIRED))
    billing_words: tuple[str, ...] = DEFAULT_BILLING_WORDS


@dataclass
class ReadingSettings:
    default_vendor: str = "sinexcel"
    stopcode_dir: str = ""  # extra vendor tables (*.toml), beside the shipped ones
    # larger mail: stored whole, only its start is read
    max_message_bytes: int = field(default=25 * 1024 * 1024, metadata={"gt": 0})
    # text read for fields; raw bytes stored whole
    max_text_chars: int = field(default=200_000, metadata={"gt": 0})
    # MIME parts looked at (attachments beyond: not listed)
    max_parts: int = field(default=200, metadata={"gt": 0})
    # reading longer: stored, flagged
    seconds_per_message: float = field(default=20.0, metadata={"gt": 0})
    # processor time to read one screenshot (SPEC §14); longer: the image is left unread
    seconds_per_image: float = field(default=2.0, metadata={"gt": 0})
    required_simple: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["simple"]))
    required_none: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["none"]))
    required_detailed: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["detailed"]))
    billing_words: list[str] = field(default_factory=lambda: list(DEFAULT_BILLING_WORDS))
    # mail from these is ours (never answered); derived from the config, never written in it
    own_addresses: list[str] = field(default_factory=list, metadata={"derived": True})

    @property
    def rules(self) -> Rules:
        return Rules(
            required={
                "simple": tuple(self.required_simple),
                "none": tuple(self.required_none),
                "detailed": tuple(self.required_detailed),
            },
            billing_words=tuple(self.billing_words),
        )
