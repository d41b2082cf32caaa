"""kafka.stop_consumer: aiokafka 0.14's stop() can raise a CancelledError of its own (a fetch
task it cancelled while a broker was down); that must not end the caller, a real cancellation
of the caller must."""

from __future__ import annotations

import asyncio

import pytest

from shared.messaging import kafka


class _Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class _StrayCancel:
    """A consumer whose stop() leaks a CancelledError nobody asked for."""

    def __init__(self) -> None:
        self._client = _Client()

    async def stop(self) -> None:
        raise asyncio.CancelledError


class _SlowStop:
    def __init__(self) -> None:
        self._client = _Client()
        self.entered = asyncio.Event()

    async def stop(self) -> None:
        self.entered.set()
        await asyncio.sleep(60)


async def test_a_stray_cancellation_from_stop_is_dropped_and_the_client_closed() -> None:
    consumer = _StrayCancel()
    await kafka.stop_consumer(consumer)  # type: ignore[arg-type]
    assert consumer._client.closed


async def test_a_real_cancellation_of_the_caller_still_propagates() -> None:
    consumer = _SlowStop()
    task = asyncio.create_task(kafka.stop_consumer(consumer))  # type: ignore[arg-type]
    await consumer.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not consumer._client.closed
