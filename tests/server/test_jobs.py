"""The background-thread helper the compactor and the monitors' scheduler share: a pass every interval, a
pass that raises is logged and the loop goes on, ``stop`` ends it (and runs a final pass when asked)."""

from __future__ import annotations

import threading

from tests._fixtures import wait_for

from loopwise.server.jobs import BackgroundJob, Compactor, MonitorLoop


class Flaky(BackgroundJob):
    thread_name = "loopwise-test-job"
    final_pass = True

    def __init__(self) -> None:
        super().__init__(0.01)
        self.calls = 0
        self.names: set[str] = set()

    def run_once(self) -> int:
        self.calls += 1
        self.names.add(threading.current_thread().name)
        if self.calls % 2:
            raise RuntimeError("a bad pass")
        return self.calls


def test_a_failing_pass_does_not_end_the_loop_and_stop_runs_a_final_pass() -> None:
    job = Flaky()
    job.start()
    job.start()  # a second start is a no-op: one thread
    assert job.running
    wait_for(lambda: job.calls >= 6, "six passes, three of which raised")
    job.stop()
    assert not job.running and job.names == {"loopwise-test-job", threading.current_thread().name}
    after = job.calls
    job.stop()  # stopping a stopped job does nothing, not even a final pass
    assert job.calls == after
    job.start()  # and it can start again
    wait_for(lambda: job.calls > after + 1, "passes after a restart")
    job.stop()


def test_both_server_jobs_are_background_jobs() -> None:
    assert issubclass(Compactor, BackgroundJob) and Compactor.final_pass
    assert issubclass(MonitorLoop, BackgroundJob) and not MonitorLoop.final_pass
    assert {Compactor.thread_name, MonitorLoop.thread_name} == {"loopwise-compactor", "loopwise-monitors"}
