"""Technology hints: what an FPGA build tells elaboration about the target (as ``platform``)."""

import dataclasses

__all__ = ["Tech", "GENERIC", "tech_of", "FAMILIES"]

FAMILIES = ("generic", "ice40", "ecp5")


@dataclasses.dataclass(frozen=True)
class Tech:
    """Passed as the Amaranth ``platform`` by ``hwgen fpga``; blocks read it to pick memory
    styles or primitives. Plain ``hwgen generate`` elaborates with no platform: generic RTL.

    Members
    -------
    family : "generic" | "ice40" | "ecp5"
    """

    family: str = "generic"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, not {self.family!r}")


GENERIC = Tech()


def tech_of(platform) -> Tech:
    return platform if isinstance(platform, Tech) else GENERIC
