"""Observability: Prometheus metrics, OpenTelemetry traces, the access log, the deployment watch.

Imports core and config only; the pipeline's observe step feeds these from each finished
request, and the server serves ``/metrics``.
"""
