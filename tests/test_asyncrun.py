"""Engines are async; notebooks (papermill, Voila) call them while a loop is running."""

from __future__ import annotations

import asyncio

import pytest

from studio_kit.asyncrun import run_sync


async def _double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


async def _fail() -> None:
    raise ValueError("engine said no")


def test_outside_a_loop():
    assert run_sync(_double(2)) == 4


def test_inside_a_running_loop_like_a_kernel():
    async def kernel_cell() -> int:
        coro = _double(1)
        with pytest.raises(RuntimeError):
            asyncio.run(coro)  # what plain asyncio.run does in a kernel
        coro.close()
        return run_sync(_double(21))

    assert asyncio.run(kernel_cell()) == 42


def test_errors_reach_the_caller_inside_a_loop():
    async def kernel_cell() -> None:
        run_sync(_fail())

    with pytest.raises(ValueError, match="engine said no"):
        asyncio.run(kernel_cell())
