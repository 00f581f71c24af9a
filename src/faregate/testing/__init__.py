"""Fake LLM providers for tests, benchmarks and the demo (real HTTP servers on loopback)."""

from .fake_provider import DEFAULT_PORTS, FakeProvider
from .otlp_receiver import OtlpReceiver
from .threaded import ThreadedFake, run_in_thread

__all__ = ["DEFAULT_PORTS", "FakeProvider", "OtlpReceiver", "ThreadedFake", "run_in_thread"]
