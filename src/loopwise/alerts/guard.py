"""Where alerts may go: every address a target's host name resolves to is checked, and internal ones
(loopback, private, link-local including the cloud metadata address, shared, reserved, multicast,
unspecified) are refused unless the operator allow-listed them (``AlertSettings.allow``)."""

from __future__ import annotations

import ipaddress
import socket

from loopwise.alerts.settings import AlertSettings
from loopwise.errors import ParameterError, RefusedTargetError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def internal(ip: IPAddress) -> bool:
    """Whether ``ip`` is not a public unicast address (IPv4-mapped IPv6 judged by its IPv4 address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def allowed(host: str, ip: IPAddress, settings: AlertSettings) -> bool:
    if not internal(ip):
        return True
    if host.lower().rstrip(".") in settings.hosts:
        return True
    return any(ip.version == net.version and ip in net for net in settings.networks)


def checked_addresses(host: str, port: int, settings: AlertSettings, what: str = "alert target") -> list[str]:
    """The addresses ``host`` resolves to, every one checked; a ParameterError naming the first refused one.

    Every address is checked (not just the first) because the connection may go to any of them, and a name
    that resolves to a public and a private address is how a guard that looks at one is fooled.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ParameterError(what, host, f"a host name that resolves ({exc})") from None
    found = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not found:
        raise ParameterError(what, host, "a host name that resolves")
    for a in found:
        if not allowed(host, ipaddress.ip_address(a), settings):
            raise RefusedTargetError(
                what,
                host,
                f"a public address: {host} resolves to {a}, a loopback, private, link-local or reserved "
                f"address ({_allowing(settings)})",
            )
    return found


def _allowing(settings: AlertSettings) -> str:
    """What the operator allows now, and how to allow more."""
    if not settings.allow:
        return "an operator may allow it with LOOPWISE_ALERT_ALLOW"
    return (
        f"LOOPWISE_ALERT_ALLOW allows only {', '.join(settings.allow)}; an operator may add this host or "
        "address to it"
    )
