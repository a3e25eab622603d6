"""What the operator decides about alerts: which internal addresses they may reach, the server's public URL
(for links in messages), timeouts. Every field can come from a LOOPWISE_* variable."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from loopwise.errors import ParameterError


def _entries(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


@dataclass(frozen=True)
class AlertSettings:
    """``allow``: networks (CIDR or single addresses) and host names that alerts may reach although they are
    loopback, private or link-local (``LOOPWISE_ALERT_ALLOW``, comma-separated); ``public_url``: the base of
    links in messages (``LOOPWISE_PUBLIC_URL``); ``timeout``: seconds per HTTP or SMTP delivery."""

    allow: tuple[str, ...] = ()
    public_url: str | None = None
    timeout: float = 10.0
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False
    )
    hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks, hosts = [], set()
        for entry in self.allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not entry or any(c in entry for c in "/ :@"):
                    raise ParameterError(
                        "LOOPWISE_ALERT_ALLOW", entry, "CIDR networks, addresses or host names"
                    ) from None
                hosts.add(entry.lower().rstrip("."))
        object.__setattr__(self, "networks", tuple(networks))
        object.__setattr__(self, "hosts", frozenset(hosts))
        if self.timeout <= 0:
            raise ParameterError("timeout", self.timeout, "a positive number of seconds")

    @classmethod
    def from_env(cls) -> AlertSettings:
        return cls(
            allow=_entries(os.environ.get("LOOPWISE_ALERT_ALLOW", "")),
            public_url=os.environ.get("LOOPWISE_PUBLIC_URL") or None,
            timeout=float(os.environ.get("LOOPWISE_ALERT_TIMEOUT", 10.0)),
        )
