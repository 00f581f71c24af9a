from keys_harness import make_app  # noqa: F401 - the fixture
