"""The loop: where services meet. The monitors' scheduler (decision 0035): due windows run once, their
failures reach the alert channels once per incident; and the review stream (decision 0042): streaming review
policies fill their queue as events arrive."""

from loopwise.loop.scheduler import PassResult, apply_alerts, new_owner, run_claimed, run_pass

__all__ = ["PassResult", "apply_alerts", "new_owner", "run_claimed", "run_pass"]
