"""Offline analyses of past traffic: what faregate would have chosen, and what it would save."""
