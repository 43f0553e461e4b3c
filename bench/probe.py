"""The HTTP prober both benchmarks measure a downtime window with."""

from __future__ import annotations

import threading
import time
import urllib.request


class Prober(threading.Thread):
    """Polls http://127.0.0.1:port/ every 5 ms; counts refused requests and the longest gap."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.done = port, threading.Event()
        self.refused, self.longest_gap_ms, self._gap_start = 0, 0.0, None

    def run(self) -> None:
        while not self.done.is_set():
            now = time.monotonic()
            try:
                # A short timeout: a connection that hangs must count as down at once, not
                # block the prober (an answer takes a few ms here).
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=0.1):
                    pass
                if self._gap_start is not None:
                    self.longest_gap_ms = max(self.longest_gap_ms, (now - self._gap_start) * 1000)
                    self._gap_start = None
            except OSError:
                self.refused += 1
                if self._gap_start is None:
                    self._gap_start = now
            time.sleep(0.005)

    def stop(self) -> dict:
        time.sleep(0.1)
        self.done.set()
        self.join()
        return {"gap_ms": self.longest_gap_ms, "refused": self.refused}
