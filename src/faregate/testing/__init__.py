"""Fake LLM providers for tests, benchmarks and the demo (real HTTP servers on loopback)."""

from .fake_provider import DEFAULT_PORTS, FakeProvider, ThreadedFake, run_in_thread
from .otlp_receiver import OtlpReceiver

__all__ = ["DEFAULT_PORTS", "FakeProvider", "OtlpReceiver", "ThreadedFake", "run_in_thread"]
