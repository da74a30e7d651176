"""MXU RTL (work in progress)."""

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MXU"]


class MXU(wiring.Component):
    def __init__(self, cfg):
        self.cfg = cfg
        R, C = cfg.rows, cfg.cols
        db = cfg.dim_bits
        ports = {
            "i_cmd": In(stream.Signature(data.StructLayout(
                {"m": db["m"], "k": db["k"], "n": db["n"]}))),
            "i_a": In(stream.Signature(data.ArrayLayout(cfg.a_fmt.shape,
                                                        R if cfg.dataflow == "ws" else R))),
            "i_w": In(stream.Signature(data.ArrayLayout(cfg.b_fmt.shape, C))),
            "o_c": Out(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(cfg.acc_fmt.shape, C), "last": 1}))),
        }
        if cfg.bias:
            ports["i_d"] = In(stream.Signature(data.ArrayLayout(cfg.acc_fmt.shape, C)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        return m
