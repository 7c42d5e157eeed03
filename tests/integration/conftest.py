"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.receiver import Receiver


@pytest.fixture
def listener() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every request it gets, whatever the
    method, and answers 200 with a secret that must never reach a PDF."""
    with Receiver(answer=b"SECRET-FROM-NETWORK") as receiver:
        yield receiver
