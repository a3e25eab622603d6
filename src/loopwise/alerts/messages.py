"""What an alert says: what failed, by how much against which threshold, in which window and segment, and
where the evidence is (the run's id and, with a public URL, a link to it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopwise._display import count


@dataclass(frozen=True)
class RunContext:
    """The run an incident changed in: model, monitor, window, run id, and the link to the run."""

    model: str
    monitor: str
    window_start: str
    window_end: str
    run_id: int
    link: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _value(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def build(
    event: str,
    incident: dict[str, Any],
    check: dict[str, Any],
    ctx: RunContext,
    failing: list[dict[str, Any]],
    *,
    since: str | None = None,
) -> dict[str, Any]:
    """The message of ``event`` (``opened``, ``reminder``, ``resolved``) for ``incident``: a subject, a text
    (Slack, e-mail) and a JSON payload (webhooks). ``since``: the start of the incident's first failing
    window, which a resolution names (the incident's ``opened_at`` is when it was processed: for a
    catch-up over past windows, minutes ago rather than when the check began to fail)."""
    where = f" [segment {incident['segment']}]" if incident["segment"] else ""
    head = {"opened": check["status"].upper(), "reminder": "STILL " + check["status"].upper()}.get(
        event, "RESOLVED"
    )
    subject = f"[loopwise] {head} {ctx.model}/{ctx.monitor}: {incident['check']}{where}"
    against = check.get("condition") or incident.get("condition") or ""
    if incident["check"].startswith("detector:"):
        line = _detector_line(event, incident, check, where, against, since)
    elif event == "resolved":
        line = (
            f"{incident['check']}{where} passes again: value {_value(check.get('actual'))} "
            f"against {against}, "
            f"after failing {count(incident['failures'], 'window')}"
            + (f" from the window starting {since}." if since else f" since {incident['opened_at']}.")
        )
    else:
        line = (
            f"{incident['check']}{where} {check['status']}s: value {_value(check.get('actual'))} against "
            f"{against}."
        )
    if check.get("message") and check["check"].startswith("detector:") and event != "resolved":
        line += f" {check['message']}."
    lines = [
        subject,
        line,
        f"window: {ctx.window_start} to {ctx.window_end}",
        f"model {ctx.model}, monitor {ctx.monitor}, run {ctx.run_id}, incident {incident['id']}",
    ]
    others = [f for f in failing if (f["check"], f["segment"]) != (incident["check"], incident["segment"])]
    if event != "resolved" and others:
        lines.append("also failing in this window:")
        lines += [
            f"  - {f['check']}"
            + (f" [{f['segment']}]" if f["segment"] else "")
            + f": {_value(f.get('actual'))}"
            f" against {f.get('condition', '')}"
            for f in others[:20]
        ]
    if ctx.link:
        lines.append(f"evidence: {ctx.link}")
    text = "\n".join(lines)
    payload = {
        "event": f"incident.{event}",
        "text": text,
        "model": ctx.model,
        "monitor": ctx.monitor,
        "window": {"start": ctx.window_start, "end": ctx.window_end},
        "run_id": ctx.run_id,
        "link": ctx.link,
        "incident": incident,
        "check": check,
        "failing": failing,
    }
    return {"subject": subject, "text": text, "payload": payload}


def _detector_line(
    event: str, incident: dict[str, Any], check: dict[str, Any], where: str, against: str, since: str | None
) -> str:
    """A detector reports a change, not a state: it fires in the window where a change shows, and the next
    window without one resolves its incident although the new level may persist. Saying "passes again"
    there read as "back to normal" in the middle of a drift (a new-user trial)."""
    name, value = f"{incident['check']}{where}", _value(check.get("actual"))
    if event == "resolved":
        began = f" (the change found in the window starting {since})" if since else ""
        return (
            f"{name}: no further change in this window ({against}, latest {value}). A detector reports "
            f"changes, not a state: the level it found{began} may persist."
        )
    return f"{name} found a change: {against}, latest {value}."
