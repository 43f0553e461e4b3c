"""Unit tests: pure logic without a Docker Engine (the Salt modules with a mocked ``__salt__``)."""
