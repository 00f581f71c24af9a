"""Request ids: sortable by time, unique across replicas."""

from __future__ import annotations

import os
import time


def new_request_id() -> str:
    # 12 hex digits of milliseconds + 12 of randomness: sortable, and unique enough across replicas.
    return f"req_{int(time.time() * 1000):012x}{os.urandom(6).hex()}"
