"""Alerts: rules evaluated in the background from the request log, sent to webhooks, Slack and email.

Imports core, config and storage only; the gateway's services own the ``AlertService``.
"""
