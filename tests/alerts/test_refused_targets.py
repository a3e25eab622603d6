"""A target refused by policy (trial of issue 17): a webhook whose host is an internal address the server's
``LOOPWISE_ALERT_ALLOW`` does not allow was left ``pending`` and retried 8 times, as if it were down; the
refusal always said "an operator may allow it with LOOPWISE_ALERT_ALLOW", even when that variable was set to
other addresses. Now such a delivery fails at once (not retried), and its error says what is allowed now. A
real webhook receiver on loopback (never reached), the delivery log on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.alerts.receiver import receiver
from tests.alerts.test_incidents import SUITE, T0, _model, client  # noqa: F401 (the fixture)

import loopwise as lw
from loopwise.alerts import AlertSettings, checked_addresses, deliver_pending
from loopwise.errors import ParameterError, RefusedTargetError


@pytest.mark.parametrize(
    ("allow", "said"),
    [
        ("", "(an operator may allow it with LOOPWISE_ALERT_ALLOW)"),
        (
            "10.9.0.0/16,hooks.internal",
            "(LOOPWISE_ALERT_ALLOW allows only 10.9.0.0/16, hooks.internal; an operator may add this host or "
            "address to it)",
        ),
    ],
)
def test_a_refused_target_fails_the_delivery_once_and_says_what_is_allowed(
    client: lw.Client,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    allow: str,
    said: str,
) -> None:
    m = _model(client, 1, range(0, 1))
    with receiver() as rec:
        # Declared where 127.0.0.1 is allowed (the fixture's setting); sent where it is not.
        m.add_monitor(
            name="hourly",
            suite=SUITE,
            window="1h",
            step="1h",
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            channels=[{"type": "webhook", "name": "ops", "url": f"{rec.url}/hook"}],
        )
        monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", allow)
        runs = [r for r in m.run_monitors("hourly") if r["state"] == "done"]
        assert [r["status"] for r in runs] == ["fail"]  # monitoring went on
        (d,) = m.deliveries("hourly")
        assert (d["state"], d["attempts"]) == ("failed", 1), d  # the old code: pending, attempt 1 of 8
        assert d["last_error"].startswith(
            "RefusedTargetError: parameter 'alert target' must be a public address:"
        )
        assert "127.0.0.1 resolves to 127.0.0.1" in d["last_error"]
        assert d["last_error"].endswith(f"{said}; got '127.0.0.1'; not retried"), d["last_error"]
        sessions = client.transport.sessions  # type: ignore[attr-defined]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        settings = AlertSettings(allow=tuple(a for a in allow.split(",") if a))
        assert deliver_pending(sessions, settings, now=later) == {"sent": 0, "retrying": 0, "failed": 0}
        assert rec.got == []


def test_a_name_that_does_not_resolve_is_not_a_refusal() -> None:
    """A host that does not resolve may resolve later (DNS is down): a plain ParameterError, retried."""
    with pytest.raises(ParameterError) as got:
        checked_addresses("no-such-host.invalid", 80, AlertSettings())
    assert not isinstance(got.value, RefusedTargetError)
    with pytest.raises(RefusedTargetError):
        checked_addresses("10.1.2.3", 80, AlertSettings(allow=("10.9.0.0/16",)))
