"""``timerTrigger``: one thread per function fires it on its NCRONTAB schedule (``runOnStartup`` first),
passing a ``func.TimerRequest`` made by azure.functions' own converter. Times are UTC unless
``WEBSITE_TIME_ZONE`` names an IANA zone. A run that outlasts its interval skips the missed occurrences."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import zoneinfo
from collections.abc import Mapping

from azure.functions.meta import Datum
from azure.functions.timer import TimerRequestConverter

from emulators.functions_host.app_index import IndexedFunction
from emulators.functions_host.expressions import resolve_settings
from emulators.functions_host.invoker import InvocationFailed, Invoker
from emulators.functions_host.ncrontab import Schedule

log = logging.getLogger("functions_host.timer")
PAST_DUE_TOLERANCE = dt.timedelta(seconds=1)


class TimerListener:
    def __init__(self, function: IndexedFunction, invoker: Invoker, settings: Mapping[str, str]) -> None:
        self.function = function
        self.invoker = invoker
        self.schedule = Schedule.parse(resolve_settings(function.trigger["schedule"], settings))
        zone = settings.get("WEBSITE_TIME_ZONE")
        self.zone = zoneinfo.ZoneInfo(zone) if zone else dt.UTC
        self.run_on_startup = bool(function.trigger.get("runOnStartup"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"timer-{function.name}", daemon=True)
        self.last: dt.datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _fire(self, due: dt.datetime | None, reason: str) -> None:
        now = dt.datetime.now(self.zone)
        following = self.schedule.next_after(max(now, due) if due else now)
        info = {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": (self.last or dt.datetime.min).isoformat(),
                "Next": following.isoformat(),
                "LastUpdated": now.isoformat(),
            },
            "IsPastDue": bool(due and now - due > PAST_DUE_TOLERANCE),
        }
        request = TimerRequestConverter.decode(Datum(json.dumps(info), "json"), trigger_metadata=None)
        try:
            self.invoker.invoke(self.function, request, {}, reason)
        except InvocationFailed:
            pass  # logged by the invoker; a timer is not retried
        self.last = due or now

    def _run(self) -> None:
        if self.run_on_startup and not self._stop.is_set():
            self._fire(None, "Timer fired at startup (RunOnStartup)")
        while not self._stop.is_set():
            due = self.schedule.next_after(dt.datetime.now(self.zone))
            wait = (due - dt.datetime.now(self.zone)).total_seconds()
            if self._stop.wait(max(wait, 0)):
                return
            self._fire(due, f"Timer fired at {due.isoformat()}")
