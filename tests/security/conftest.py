"""The harness fixtures the attacks share with their modules' own suites: ``make_app`` (the keys
app, ``tests/keys_harness.py``) and ``store`` (each limits backend, ``tests/limits_services.py``)."""

from keys_harness import make_app  # noqa: F401 - the fixture
from limits_services import store  # noqa: F401 - the fixture
