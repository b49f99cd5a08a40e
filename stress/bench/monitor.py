"""What a process uses while a benchmark runs: RSS and CPU, sampled in the background (psutil).

::

    monitor = ResourceMonitor(interval=0.1)   # this process; or ResourceMonitor(pid=...)
    monitor.start()
    ...                                        # the work
    monitor.stop()
    monitor.get_peak_memory()                  # bytes: the highest RSS seen
    monitor.get_average_cpu()                  # percent of one CPU, mean over the samples

or ``with ResourceMonitor() as monitor: ...``. The spec's class, in this
project's way:

* Sampling runs in a daemon **thread**, not an asyncio task: the planner's
  work is synchronous, and in the spec's snippets it runs on the event loop's
  own thread, where a task would get no turn until the work is over. The
  thread waits on an event between samples, so :meth:`stop` returns at once.
* A sample is also taken at :meth:`start` and :meth:`stop`, so even work
  shorter than the interval has a before and an after.
* RSS samples miss a spike shorter than the interval. When the monitored
  process is this one, on Linux, the kernel's high-water mark (``VmHWM``,
  reset to the current RSS at :meth:`start`) is folded into the peak, so no
  spike is missed. (Resetting it is harmless: it is only a statistic.)

Each sample costs one ``/proc`` read or two (tens of microseconds), plus a
thread wake-up per interval; memory O(samples). CPU percent is per sample
(the time since the previous one), so 200 means two CPUs busy.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil

DEFAULT_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Sample:
    """One reading: seconds since :meth:`ResourceMonitor.start`, RSS and VMS in bytes, and the
    CPU percent since the previous sample (the first one: since start)."""

    t: float
    rss: int
    vms: int
    cpu_percent: float


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (``VmHWM``) to its current RSS (Linux >= 4.0); False if
    that is impossible here."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return peak_rss() is not None
    except OSError:
        return False


def peak_rss() -> int | None:
    """``VmHWM`` of this process in bytes (the highest RSS since start or the last reset), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class ResourceMonitor:
    """Samples one process's RSS and CPU every ``interval`` seconds between :meth:`start` and
    :meth:`stop` (restartable: a new start clears the samples)."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S, pid: int | None = None):
        if interval <= 0:
            raise ValueError(f"interval must be > 0, not {interval}")
        self.interval = interval
        self.pid = os.getpid() if pid is None else pid
        self.samples: list[Sample] = []
        self.start_time: float | None = None
        self._process = psutil.Process(self.pid)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the sampler and the caller both append
        self._high_water = False  # VmHWM was reset at start and can be read at the end
        self._hwm: int | None = None

    # -- running -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> ResourceMonitor:
        """Take the first sample and start the sampling thread. Raises RuntimeError if running."""
        if self.running:
            raise RuntimeError("this ResourceMonitor is already running")
        self.samples = []
        self._hwm = None
        self._high_water = self.pid == os.getpid() and reset_peak_rss()
        self.start_time = time.monotonic()
        self._process.cpu_percent(None)  # primes the counter: the next call measures from here
        self.sample()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="resource-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> ResourceMonitor:
        """Stop the thread and take the last sample. Does nothing if not running."""
        if self._thread is None:
            return self
        self._stopping.set()
        self._thread.join()
        self._thread = None
        self.sample()
        if self._high_water:
            self._hwm = peak_rss()
        return self

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.sample()
            except psutil.Error:  # the process is gone: nothing more to see
                return

    def sample(self) -> Sample:
        """Take one sample now (the thread calls this every interval; callers may too)."""
        if self.start_time is None:
            raise RuntimeError("start() the ResourceMonitor before sampling")
        with self._process.oneshot():
            memory = self._process.memory_info()
            cpu = self._process.cpu_percent(None)
        sample = Sample(time.monotonic() - self.start_time, memory.rss, memory.vms, cpu)
        with self._lock:
            self.samples.append(sample)
        return sample

    def __enter__(self) -> ResourceMonitor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- figures -----------------------------------------------------------------
    def get_peak_memory(self) -> int:
        """The highest RSS seen, in bytes (with the kernel's high-water mark when available); 0 before any sample."""
        sampled = max((s.rss for s in self.samples), default=0)
        return max(sampled, self._hwm or 0)

    def get_baseline_memory(self) -> int:
        """The RSS at :meth:`start`, in bytes (0 before any sample)."""
        return self.samples[0].rss if self.samples else 0

    def get_memory_growth(self) -> int:
        """Peak RSS minus the RSS at start, in bytes: what the monitored work added at its worst."""
        return max(0, self.get_peak_memory() - self.get_baseline_memory())

    def get_average_memory(self) -> float:
        """Mean RSS over the samples, in bytes."""
        return sum(s.rss for s in self.samples) / len(self.samples) if self.samples else 0.0

    def get_average_cpu(self) -> float:
        """Mean CPU percent over the samples after the first (which has no interval behind it)."""
        timed = self.samples[1:]
        return sum(s.cpu_percent for s in timed) / len(timed) if timed else 0.0

    def get_peak_cpu(self) -> float:
        return max((s.cpu_percent for s in self.samples[1:]), default=0.0)

    def report(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (bytes, percent, seconds)."""
        return {"samples": len(self.samples), "seconds": round(self.samples[-1].t, 4) if self.samples else 0.0,
                "peak_rss": self.get_peak_memory(), "baseline_rss": self.get_baseline_memory(),
                "rss_growth": self.get_memory_growth(), "average_rss": round(self.get_average_memory()),
                "average_cpu_percent": round(self.get_average_cpu(), 1), "peak_cpu_percent": self.get_peak_cpu()}
