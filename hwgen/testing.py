"""amaranth.sim helpers: drive and collect streams with random stalls (one testbench per port)."""

import random

__all__ = ["stream_put", "stream_get", "first_transfer"]


async def stream_put(ctx, port, values, *, rng: random.Random | None = None, gap: float = 0.0,
                     budget: int | None = None) -> int:
    """Send ``values`` (ints or layout-castable values) on a stream ``port`` the DUT consumes.

    With probability ``gap`` a cycle is skipped before each transfer (valid low). Valid is held
    until the transfer; the payload is stable meanwhile. With a ``budget`` of cycles, gives up
    once it is spent. Returns the number of values transferred.
    """
    rng = rng or random.Random(0)
    cycle = sent = 0
    for v in values:
        while rng.random() < gap:
            await ctx.tick()
            cycle += 1
        ctx.set(port.payload, v)
        ctx.set(port.valid, 1)
        while True:
            if budget is not None and cycle >= budget:
                ctx.set(port.valid, 0)
                return sent
            _, _, ready = await ctx.tick().sample(port.ready)
            cycle += 1
            if ready:
                break
        ctx.set(port.valid, 0)
        sent += 1
    return sent


async def stream_get(ctx, port, count, *, rng: random.Random | None = None, stall: float = 0.0,
                     cycles: list | None = None, budget: int | None = None):
    """Collect ``count`` transfers from a stream ``port`` the DUT produces; ``ready`` is low with
    probability ``stall`` each cycle. Appends the transfer's cycle number to ``cycles`` if given.
    Returns the payloads (as ``ctx.get`` returns them); with a ``budget`` of cycles, returns
    early with fewer once it is spent (drive the inputs from background testbenches and
    ``sim.run()`` ends as soon as the outputs are in, instead of at a fixed deadline)."""
    rng = rng or random.Random(1)
    out = []
    cycle = 0
    while len(out) < count and (budget is None or cycle < budget):
        ready = rng.random() >= stall
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        cycle += 1
        if ready and valid:
            out.append(payload)
            if cycles is not None:
                cycles.append(cycle)
    ctx.set(port.ready, 0)
    return out


async def first_transfer(ctx, port) -> int:
    """The cycle (counted from this testbench's start) of the first transfer on ``port``, a
    stream another testbench drives."""
    cycle = 0
    while True:
        _, _, valid, ready = await ctx.tick().sample(port.valid, port.ready)
        if valid and ready:
            return cycle
        cycle += 1
