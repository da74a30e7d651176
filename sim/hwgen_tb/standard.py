"""The tests every block runs, made from its ``Stimulus``: random jobs, corner cases, cycles
against ``model``, reset mid-transfer, and user tensors (``HWGEN_INPUTS``)."""

import cocotb

from .bench import Testbench
from .settings import Settings

__all__ = ["standard_tests", "STANDARD_TESTS"]

#: The tests :func:`standard_tests` makes, in order.
STANDARD_TESTS = ("random_vectors", "corner_cases", "no_stall_cycles", "reset_mid_transfer",
                  "user_tensors")


def standard_tests(stimulus: type, *, info=None) -> dict:
    """The standard cocotb tests for ``stimulus`` (a ``Stimulus`` subclass), by name.

    Put them into the bench module: ``globals().update(standard_tests(MyStimulus))``. ``info``
    is the block's ``BlockInfo`` when it is not in the registry (the library's self-test).
    In user-tensor mode (``HWGEN_INPUTS``) only ``user_tensors`` runs, without stalls.
    """
    settings = Settings.from_env()
    user = settings.inputs is not None
    module = stimulus.__module__

    def bench(dut, name, **kwargs):
        return Testbench(dut, name, info=info, settings=settings, **kwargs)

    async def random_vectors(dut):
        """HWGEN_VECTORS random jobs streamed back to back, with random gaps and stalls."""
        async with bench(dut, "random_vectors") as b:
            stim = stimulus(b.cfg, b.rng)
            await b.run([stim.random(i) for i in range(max(1, settings.vectors))])

    async def corner_cases(dut):
        """Each corner case on its own (extremes, zeros, smallest and largest sizes)."""
        async with bench(dut, "corner_cases") as b:
            for job in stimulus(b.cfg, b.rng).corner_cases():
                await b.run([job])

    async def no_stall_cycles(dut):
        """No gaps, no stalls: correct, and the cycle count equals model() (or lies within its
        stated tolerance where the model says it is not exact)."""
        async with bench(dut, "no_stall_cycles", gap_prob=0.0, stall_prob=0.0) as b:
            problems = []
            for job in stimulus(b.cfg, b.rng).unstalled():
                (job,) = await b.run([job])
                est = b.info.model_for(b.cfg, job.inputs)
                if "cycles" not in est:
                    raise AssertionError(f"model() gives no cycle count for {job.what}")
                tol = est.get("tolerance") or {"abs": 0, "rel": 0.0}
                slack = tol.get("abs", 0) + tol.get("rel", 0.0) * est["cycles"]
                b.log.info("%s: measured %s cycles, model %d (tolerance %g)", job.what,
                           job.cycles, est["cycles"], slack)
                if job.cycles is None or abs(job.cycles - est["cycles"]) > slack:
                    rule = "equal" if slack == 0 else f"be within {slack:g} of"
                    problems.append(f"{job.what}: measured {job.cycles} cycles, model "
                                    f"{est['cycles']} (must {rule} it)")
            if problems:
                raise AssertionError(f"cycle counts differ from model(): {'; '.join(problems)}; "
                                     f"{b.context}")

    async def reset_mid_transfer(dut):
        """Reset while an input is mid-transfer; every output idles; then two jobs pass."""
        async with bench(dut, "reset_mid_transfer") as b:
            stim = stimulus(b.cfg, b.rng)
            await b.reset_mid_transfer(stim.interrupted())
            await b.run([stim.random(1), stim.random(2)])

    async def user_tensors(dut):
        """HWGEN_INPUTS → outputs and cycles in HWGEN_OUTPUTS; fails on any mismatch."""
        async with bench(dut, "user_tensors") as b:
            await b.user_tensors()

    tests = {}
    for fn in (random_vectors, corner_cases, no_stall_cycles, reset_mid_transfer, user_tensors):
        fn.__module__ = module
        fn.__qualname__ = fn.__name__
        skip = (fn.__name__ == "user_tensors") != user
        tests[fn.__name__] = cocotb.test(skip=skip)(fn)
    return tests

