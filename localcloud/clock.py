"""The server's background clock: what AWS does on its own while nobody calls it.

Every second, scheduled EventBridge rules that are due fire (`cloud.events.tick`);
when a minute has ended, endpoints' invocation counts become AWS/SageMaker metrics
(`cloud.sagemaker.publish_invocation_metrics`);
every minute, CloudWatch evaluates every alarm (missing data and the passing of periods
change states too: `cloud.cloudwatch.tick`). Only a serving localcloud runs a clock, so
a second LocalCloud opened on the same state directory (the CLI reading state) never fires a
rule twice. A failing tick is logged and the clock keeps going.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.clock")

SCHEDULE_TICK_S = 1.0
ALARM_TICK_S = 60.0


class Clock:
    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localcloud-clock", daemon=True)

    def start(self) -> None:
        """Start ticking, unless stopped already (a clock is started once)."""
        if not self._stop.is_set() and self._thread.ident is None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last_alarm_tick = 0.0
        while not self._stop.wait(SCHEDULE_TICK_S):
            now = time.time()
            # Each service's tick on its own: one that fails is logged and never stops the others.
            self._tick("scheduled rules", self.cloud.events.tick, now)
            if "sagemaker" in self.cloud.__dict__:  # never started: nothing was invoked
                # writes once a minute has ended
                self._tick("invocation metrics", self.cloud.sagemaker.publish_invocation_metrics, now)
                self._tick("endpoint instances", self.cloud.sagemaker.tick_instances, now)
            if now - last_alarm_tick >= ALARM_TICK_S:
                last_alarm_tick = now
                self._tick("alarm evaluation", self.cloud.cloudwatch.tick, now)

    @staticmethod
    def _tick(what: str, work: Callable[[float], object], now: float) -> None:
        try:
            work(now)
        except Exception:  # noqa: BLE001 — the clock must outlive one bad tick
            log.exception("clock tick failed: %s", what)
