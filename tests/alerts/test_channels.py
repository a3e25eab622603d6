"""Channels over real connections on loopback: a signed webhook checked by a receiver written from the
documented scheme, Slack's format, e-mail to an SMTP server the test starts; internal addresses refused
unless allow-listed, by address and by a host name that resolves to them; redirects not followed."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
from typing import Any

import pytest
from tests.alerts.receiver import receiver, smtp_server

from loopwise.alerts import AlertSettings, check_targets, checked_addresses, internal, send
from loopwise.errors import ParameterError

LOOPBACK = AlertSettings(allow=("127.0.0.1",))
MESSAGE: dict[str, Any] = {
    "subject": "[loopwise] FAIL credit/m: psi[income]",
    "text": "psi[income] fails: value 0.31 against < 0.2.",
    "payload": {"event": "incident.opened", "text": "psi[income] fails", "run_id": 7},
}


def verify(secret: str, headers: dict[str, str], body: bytes, max_age: int = 300) -> bool:
    """A receiver's check, written from docs/monitors.md: HMAC-SHA256 over "timestamp.body", fresh."""
    stamp = headers["x-loopwise-timestamp"]
    if abs(time.time() - int(stamp)) > max_age:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-loopwise-signature"])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "192.168.1.5",
        "100.64.0.1",
        "::1",
        "::ffff:10.0.0.1",
        "fd00:ec2::254",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused_unless_allowed(address: str) -> None:
    assert internal(ipaddress.ip_address(address))
    with pytest.raises(ParameterError, match="loopback, private, link-local"):
        checked_addresses(address, 80, AlertSettings())
    assert checked_addresses(address, 80, AlertSettings(allow=(address,))) == [address]
    net = "::/0" if ":" in address else "0.0.0.0/0"
    assert checked_addresses(address, 80, AlertSettings(allow=(net,))) == [address]


def test_public_addresses_pass_and_host_names_are_checked_by_what_they_resolve_to() -> None:
    assert not internal(ipaddress.ip_address("93.184.216.34"))
    assert checked_addresses("93.184.216.34", 443, AlertSettings()) == ["93.184.216.34"]
    # ``localhost`` resolves to loopback: refused by its addresses, allowed by name or by network.
    with pytest.raises(ParameterError, match="localhost resolves to"):
        checked_addresses("localhost", 80, AlertSettings())
    assert "127.0.0.1" in checked_addresses("localhost", 80, AlertSettings(allow=("localhost",)))
    with pytest.raises(ParameterError, match=r"channels\[0\]\.url"):
        check_targets([{"type": "webhook", "url": "http://localhost:9/x"}], AlertSettings())
    with pytest.raises(ParameterError, match="resolves"):
        checked_addresses("no-such-host.invalid", 80, AlertSettings())


def test_signed_webhook_reaches_an_allowed_receiver_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    with receiver() as rec:
        channel = {"type": "webhook", "name": "ops", "url": f"{rec.url}/hook", "secret_env": "HOOK_SECRET"}
        with pytest.raises(ParameterError, match=r"127\.0\.0\.1"):
            send(channel, MESSAGE, AlertSettings())  # not allow-listed: nothing is sent
        assert rec.got == []
        send(channel, MESSAGE, LOOPBACK)
        (got,) = rec.got
        assert got.path == "/hook" and json.loads(got.body) == MESSAGE["payload"]
        assert got.headers["host"] == f"127.0.0.1:{rec.port}"
        assert verify("s3cret", got.headers, got.body)
        assert not verify("other", got.headers, got.body)
        assert not verify("s3cret", got.headers, got.body + b" ")
        old = dict(got.headers, **{"x-loopwise-timestamp": str(int(time.time()) - 3600)})
        assert not verify("s3cret", old, got.body)  # a replay an hour later is refused


def test_a_host_name_is_sent_to_the_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver() as rec:
        channel = {"type": "slack", "url": f"http://localhost:{rec.port}/slack"}
        with pytest.raises(ParameterError, match="localhost resolves to"):
            send(channel, MESSAGE, AlertSettings())
        send(channel, MESSAGE, AlertSettings(allow=("localhost",)))
        (got,) = rec.got
        assert json.loads(got.body) == {"text": MESSAGE["text"]}  # Slack's incoming-webhook body
        assert got.headers["host"] == f"localhost:{rec.port}"  # the name kept, the address pinned
        assert "x-loopwise-signature" not in got.headers


def test_redirects_are_not_followed_and_errors_raise() -> None:
    with receiver() as rec:
        with pytest.raises(RuntimeError, match=r"307 \(a redirect to .*, not followed\)"):
            send({"type": "webhook", "url": f"{rec.url}/redirect"}, MESSAGE, LOOPBACK)
        with pytest.raises(RuntimeError, match="500"):
            send({"type": "webhook", "url": f"{rec.url}/fail"}, MESSAGE, LOOPBACK)
        assert [g.path for g in rec.got] == ["/redirect", "/fail"]  # /elsewhere never asked


def test_email_reaches_a_real_smtp_server() -> None:
    with smtp_server() as (port, messages):
        channel = {
            "type": "email",
            "name": "mail",
            "to": ["oncall@example.com"],
            "sender": "loopwise@example.com",
            "host": "127.0.0.1",
            "port": port,
        }
        with pytest.raises(ParameterError, match="smtp host"):
            send(channel, MESSAGE, AlertSettings())
        assert messages == []
        send(channel, MESSAGE, LOOPBACK)
        (msg,) = messages
        assert msg["Subject"] == MESSAGE["subject"] and msg["To"] == "oncall@example.com"
        assert msg["From"] == "loopwise@example.com"
        assert MESSAGE["text"] in msg.get_payload(decode=True).decode()
        # A date within a minute of now, and a Message-ID of the sender's domain (RFC 5322, section 3.6).
        sent = email.utils.parsedate_to_datetime(msg["Date"])
        assert abs(sent - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        assert re.fullmatch(r"<[^<>@\s]+@example\.com>", msg["Message-ID"]), msg["Message-ID"]


#: A stand-in for DNS (the tests have none): names that resolve to internal addresses, one to a public and
#: a private address at once. Every other name goes to the real resolver.
NAMES = {
    "hooks.corp.test": ["10.0.0.1"],
    "metadata.corp.test": ["169.254.169.254"],
    "loop.corp.test": ["127.0.0.1"],
    "mixed.corp.test": ["93.184.216.34", "10.0.0.1"],
}


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in NAMES:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in NAMES[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("host", sorted(NAMES))
def test_a_host_name_resolving_to_an_internal_address_is_refused_unless_allowed(dns: None, host: str) -> None:
    """Refused at declaration (``check_targets``) and at delivery (``send``: before any connection); allowed
    by the name or by a network holding its internal address, and then checked addresses are returned (these
    tests never connect to them)."""
    internal_ip = next(a for a in NAMES[host] if internal(ipaddress.ip_address(a)))
    channel = {"type": "webhook", "url": f"http://{host}/hook"}
    with pytest.raises(ParameterError, match=f"{host} resolves to {re.escape(internal_ip)}"):
        check_targets([channel], AlertSettings())
    with pytest.raises(ParameterError, match="resolves to"):
        send(channel, MESSAGE, AlertSettings())
    assert checked_addresses(host, 80, AlertSettings(allow=(host,))) == NAMES[host]
    net = str(ipaddress.ip_network(f"{internal_ip}/8", strict=False))
    assert checked_addresses(host, 80, AlertSettings(allow=(net,))) == NAMES[host]
    with pytest.raises(ParameterError):  # another network does not cover it
        checked_addresses(host, 80, AlertSettings(allow=("192.168.0.0/16",)))


def test_a_redirect_to_the_metadata_address_is_not_followed() -> None:
    with receiver() as rec:
        with pytest.raises(
            RuntimeError, match=r"302 \(a redirect to http://169\.254\.169\.254/.*not followed\)"
        ):
            send({"type": "webhook", "url": f"{rec.url}/redirect-to-metadata"}, MESSAGE, LOOPBACK)
        assert [g.path for g in rec.got] == ["/redirect-to-metadata"]
