"""Translators from other gateways' config files to faregate's (``faregate import ...``)."""
