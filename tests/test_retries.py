"""Retries go through tenacity: transient errors are retried with backoff, others are not."""

from __future__ import annotations

import pytest

import kg.store.bulk as bulk
from kg.errors import StoreUnavailable


class Flaky:
    def __init__(self, failures: int, exc: type[BaseException] = ConnectionError) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc("dropped")
        return "done"


def test_store_writes_retry_transient_errors_then_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "FIRST_DELAY", 0.0)
    call = Flaky(bulk.RETRIES - 1)
    assert bulk.retrying(call, "batch 1", (ConnectionError,)) == "done"
    assert call.calls == bulk.RETRIES


def test_store_writes_give_up_with_store_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "FIRST_DELAY", 0.0)
    call = Flaky(bulk.RETRIES)
    with pytest.raises(StoreUnavailable, match="re-run `kg load`"):
        bulk.retrying(call, "batch 1", (ConnectionError,))
    assert call.calls == bulk.RETRIES


def test_other_errors_are_not_retried() -> None:
    call = Flaky(1, exc=KeyError)
    with pytest.raises(KeyError):
        bulk.retrying(call, "batch 1", (ConnectionError,))
    assert call.calls == 1
