from limits_services import store  # noqa: F401 - the fixture
