"""Sending one message to one channel: a webhook (JSON POST, optionally signed), Slack (incoming webhook),
or e-mail (SMTP). Each connects only to an address the guard checked, and never follows a redirect.

The webhook signature (docs/monitors.md): ``X-Loopwise-Timestamp`` is the Unix time of sending and
``X-Loopwise-Signature`` is ``sha256=`` and the hex HMAC-SHA256, keyed with the secret, of the timestamp, a
``.`` and the body's bytes; a receiver recomputes it and refuses an old timestamp (a replay).
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from loopwise._lazy import lazy
from loopwise.alerts.guard import checked_addresses
from loopwise.alerts.settings import AlertSettings
from loopwise.errors import MissingSettingError, ParameterError

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy("httpx")

SIGNATURE_HEADER = "X-Loopwise-Signature"
TIMESTAMP_HEADER = "X-Loopwise-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _env(channel: dict[str, Any], key: str) -> str:
    name = channel[key]
    value = os.environ.get(name)
    if not value:
        raise MissingSettingError(
            f"{channel['name']}.{key}", name, "an environment variable set on the server (it is not set)"
        )
    return value


def unset_variables(channel: dict[str, Any], environ: Any = None) -> list[str]:
    """The channel's ``*_env`` keys naming a variable not set in ``environ`` (this process's environment by
    default), as ``"url_env LOOPWISE_HOOK"``."""
    environ = os.environ if environ is None else environ
    keys = ("url_env", "secret_env", "username_env", "password_env")
    return [f"{k} {channel[k]}" for k in keys if channel.get(k) and not environ.get(channel[k])]


def _url(channel: dict[str, Any]) -> str:
    return str(channel["url"]) if channel.get("url") else _env(channel, "url_env")


def post_json(url: str, payload: dict[str, Any], settings: AlertSettings, secret: str | None = None) -> None:
    """POST ``payload`` to ``url`` through a checked address; an exception if it was not answered 2xx."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ParameterError("url", url, "an http:// or https:// URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_addresses(host, port, settings)[0]
    # The request goes to the address just checked, so a DNS answer that changes in between cannot send it
    # elsewhere; the Host header and the TLS server name (which the certificate is checked against) stay.
    shown = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "User-Agent": "loopwise-alerts",
    }
    if secret is not None:
        stamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = stamp
        headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    with httpx.Client(timeout=settings.timeout, follow_redirects=False, trust_env=False) as client:
        r = client.post(pinned, content=body, headers=headers, extensions=extensions)
    if not 200 <= r.status_code < 300:
        where = r.headers.get("location")
        extra = f" (a redirect to {where}, not followed)" if where else ""
        raise RuntimeError(f"{host} answered {r.status_code}{extra}")


def send_email(channel: dict[str, Any], subject: str, text: str, settings: AlertSettings) -> None:
    host, port = channel["host"], int(channel["port"])
    address = checked_addresses(host, port, settings, "smtp host")[0]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = channel["sender"], ", ".join(channel["to"]), subject
    # Date and Message-ID (RFC 5322 asks for both; mail filters score a message without them as spam).
    domain = str(channel["sender"]).rpartition("@")[2] or None
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    msg.set_content(text)
    with smtplib.SMTP(timeout=settings.timeout) as smtp:
        smtp.connect(address, port)
        # STARTTLS checks the certificate against the name connected to: the host's, not the address's.
        smtp._host = host  # type: ignore[attr-defined]
        smtp.ehlo()
        if channel.get("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if channel.get("username_env"):
            smtp.login(_env(channel, "username_env"), _env(channel, "password_env"))
        smtp.send_message(msg)


def send(channel: dict[str, Any], message: dict[str, Any], settings: AlertSettings) -> None:
    """Deliver ``message`` (``subject``, ``text``, ``payload``) on ``channel``; raises when it was not."""
    kind = channel["type"]
    if kind == "webhook":
        secret = _env(channel, "secret_env") if channel.get("secret_env") else None
        post_json(_url(channel), message["payload"], settings, secret)
    elif kind == "slack":
        post_json(_url(channel), {"text": message["text"]}, settings)
    elif kind == "email":
        send_email(channel, message["subject"], message["text"], settings)
    else:
        raise ParameterError("channel type", kind, ("webhook", "slack", "email"))
