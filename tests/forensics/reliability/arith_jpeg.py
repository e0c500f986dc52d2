"""A tiny arithmetic-coded JPEG writer (ITU-T T.81 SOF9, Annex D QM-coder, Annex F.1.4 models).

Pillow's JPEG encoder cannot select arithmetic coding and `cjpeg -arithmetic` is not available
everywhere, so the corpus writes its own: a grayscale image made of flat 8x8 blocks (DC only,
every AC coefficient zero), with a quantisation table of ones, so the decoded pixels are known
exactly (pixel = 128 + DC / 8). Default conditioning (L=0, U=1, Kx=5), so no DAC marker.
"""
from __future__ import annotations

import struct

import numpy as np

# Table D.2 (Qe, Next_Index_LPS, Next_Index_MPS, Switch_MPS), index 0..112
_QE = [
    (0x5a1d, 1, 1, 1), (0x2586, 14, 2, 0), (0x1114, 16, 3, 0), (0x080b, 18, 4, 0), (0x03d8, 20, 5, 0),
    (0x01da, 23, 6, 0), (0x00e5, 25, 7, 0), (0x006f, 28, 8, 0), (0x0036, 30, 9, 0), (0x001a, 33, 10, 0),
    (0x000d, 35, 11, 0), (0x0006, 9, 12, 0), (0x0003, 10, 13, 0), (0x0001, 12, 13, 0), (0x5a7f, 15, 15, 1),
    (0x3f25, 36, 16, 0), (0x2cf2, 38, 17, 0), (0x207c, 39, 18, 0), (0x17b9, 40, 19, 0), (0x1182, 42, 20, 0),
    (0x0cef, 43, 21, 0), (0x09a1, 45, 22, 0), (0x072f, 46, 23, 0), (0x055c, 48, 24, 0), (0x0406, 49, 25, 0),
    (0x0303, 51, 26, 0), (0x0240, 52, 27, 0), (0x01b1, 54, 28, 0), (0x0144, 56, 29, 0), (0x00f5, 57, 30, 0),
    (0x00b7, 59, 31, 0), (0x008a, 60, 32, 0), (0x0068, 62, 33, 0), (0x004e, 63, 34, 0), (0x003b, 32, 35, 0),
    (0x002c, 33, 9, 0), (0x5ae1, 37, 37, 1), (0x484c, 64, 38, 0), (0x3a0d, 65, 39, 0), (0x2ef1, 67, 40, 0),
    (0x261f, 68, 41, 0), (0x1f33, 69, 42, 0), (0x19a8, 70, 43, 0), (0x1518, 72, 44, 0), (0x1177, 73, 45, 0),
    (0x0e74, 74, 46, 0), (0x0bfb, 75, 47, 0), (0x09f8, 77, 48, 0), (0x0861, 78, 49, 0), (0x0706, 79, 50, 0),
    (0x05cd, 48, 51, 0), (0x04de, 50, 52, 0), (0x040f, 50, 53, 0), (0x0363, 51, 54, 0), (0x02d4, 52, 55, 0),
    (0x025c, 53, 56, 0), (0x01f8, 54, 57, 0), (0x01a4, 55, 58, 0), (0x0160, 56, 59, 0), (0x0125, 57, 60, 0),
    (0x00f6, 58, 61, 0), (0x00cb, 59, 62, 0), (0x00ab, 61, 63, 0), (0x008f, 61, 32, 0), (0x5b12, 65, 65, 1),
    (0x4d04, 80, 66, 0), (0x412c, 81, 67, 0), (0x37d8, 82, 68, 0), (0x2fe8, 83, 69, 0), (0x293c, 84, 70, 0),
    (0x2379, 86, 71, 0), (0x1edf, 87, 72, 0), (0x1aa9, 87, 73, 0), (0x174e, 72, 74, 0), (0x1424, 72, 75, 0),
    (0x119c, 74, 76, 0), (0x0f6b, 74, 77, 0), (0x0d51, 75, 78, 0), (0x0bb6, 77, 79, 0), (0x0a40, 77, 48, 0),
    (0x5832, 80, 81, 1), (0x4d1c, 88, 82, 0), (0x438e, 89, 83, 0), (0x3bdd, 90, 84, 0), (0x34ee, 91, 85, 0),
    (0x2eae, 92, 86, 0), (0x299a, 93, 87, 0), (0x2516, 86, 71, 0), (0x5570, 88, 89, 1), (0x4ca9, 95, 90, 0),
    (0x44d9, 96, 91, 0), (0x3e22, 97, 92, 0), (0x3824, 99, 93, 0), (0x32b4, 99, 94, 0), (0x2e17, 93, 86, 0),
    (0x56a8, 95, 96, 1), (0x4f46, 101, 97, 0), (0x47e5, 102, 98, 0), (0x41cf, 103, 99, 0), (0x3c3d, 104, 100, 0),
    (0x375e, 99, 93, 0), (0x5231, 105, 102, 0), (0x4c0f, 106, 103, 0), (0x4639, 107, 104, 0),
    (0x415e, 103, 99, 0), (0x5627, 105, 106, 1), (0x50e7, 108, 107, 0), (0x4b85, 109, 103, 0),
    (0x5597, 110, 109, 0), (0x504f, 111, 107, 0), (0x5a10, 110, 111, 1), (0x5522, 112, 109, 0),
    (0x59eb, 112, 111, 1),
]


class QMEncoder:
    """Annex D arithmetic encoder; a statistics bin is [index, mps]."""

    def __init__(self) -> None:
        self.c, self.a, self.sc, self.zc, self.ct, self.buffer = 0, 0x10000, 0, 0, 11, -1
        self.out = bytearray()

    def _emit_pending_zeros(self) -> None:
        self.out += b"\x00" * self.zc
        self.zc = 0

    def _byte_out(self, temp: int) -> None:
        if temp > 0xFF:  # carry into the buffered byte
            if self.buffer >= 0:
                self._emit_pending_zeros()
                self.out.append(self.buffer + 1)
                if self.buffer + 1 == 0xFF:
                    self.out.append(0)
            self.zc += self.sc
            self.sc = 0
            self.buffer = temp & 0xFF
        elif temp == 0xFF:
            self.sc += 1
        else:
            if self.buffer == 0:
                self.zc += 1
            elif self.buffer >= 0:
                self._emit_pending_zeros()
                self.out.append(self.buffer)
            if self.sc:
                self._emit_pending_zeros()
                self.out += b"\xff\x00" * self.sc
                self.sc = 0
            self.buffer = temp & 0xFF

    def encode(self, st: list[int], bit: int) -> None:
        qe, nlps, nmps, switch = _QE[st[0]]
        self.a -= qe
        if bit != st[1]:  # LPS
            if self.a >= qe:
                self.c += self.a
                self.a = qe
            if switch:
                st[1] ^= 1
            st[0] = nlps
        else:  # MPS
            if self.a >= 0x8000:
                return
            if self.a < qe:
                self.c += self.a
                self.a = qe
            st[0] = nmps
        while True:  # renormalise
            self.a <<= 1
            self.c <<= 1
            self.ct -= 1
            if self.ct == 0:
                self._byte_out(self.c >> 19)
                self.c &= 0x7FFFF
                self.ct += 8
            if self.a >= 0x8000:
                break

    def flush(self) -> bytes:
        temp = (self.a - 1 + self.c) & 0xFFFF0000
        self.c = temp + 0x8000 if temp < self.c else temp
        self.c <<= self.ct
        if self.c & 0xF8000000:
            if self.buffer >= 0:
                self._emit_pending_zeros()
                self.out.append(self.buffer + 1)
                if self.buffer + 1 == 0xFF:
                    self.out.append(0)
            self.zc += self.sc
            self.sc = 0
        else:
            if self.buffer == 0:
                self.zc += 1
            elif self.buffer >= 0:
                self._emit_pending_zeros()
                self.out.append(self.buffer)
            if self.sc:
                self._emit_pending_zeros()
                self.out += b"\xff\x00" * self.sc
                self.sc = 0
        if self.c & 0x7FFF800:
            self._emit_pending_zeros()
            self.out.append((self.c >> 19) & 0xFF)
            if (self.c >> 19) & 0xFF == 0xFF:
                self.out.append(0)
            if self.c & 0x7F800:
                self.out.append((self.c >> 11) & 0xFF)
                if (self.c >> 11) & 0xFF == 0xFF:
                    self.out.append(0)
        return bytes(self.out)


def _encode_dc_only(dcs: list[int]) -> bytes:
    enc = QMEncoder()
    dc_stats = [[0, 0] for _ in range(64)]
    ac_stats = [[0, 0] for _ in range(256)]
    last, ctx = 0, 0
    for dc in dcs:
        v = dc - last
        s0 = ctx
        if v == 0:
            enc.encode(dc_stats[s0], 0)
            ctx = 0
        else:
            last = dc
            enc.encode(dc_stats[s0], 1)
            if v > 0:
                enc.encode(dc_stats[s0 + 1], 0)
                st, ctx = s0 + 2, 4
            else:
                v = -v
                enc.encode(dc_stats[s0 + 1], 1)
                st, ctx = s0 + 3, 8
            m = 0
            v -= 1
            if v:
                enc.encode(dc_stats[st], 1)
                m, v2, st = 1, v, 20
                v2 >>= 1
                while v2:
                    enc.encode(dc_stats[st], 1)
                    m <<= 1
                    st += 1
                    v2 >>= 1
            enc.encode(dc_stats[st], 0)
            if m > 1:  # (1 << U) >> 1 with U = 1: large difference category
                ctx += 8
            st += 14
            m >>= 1
            while m:
                enc.encode(dc_stats[st], 1 if (m & v) else 0)
                m >>= 1
        enc.encode(ac_stats[0], 1)  # EOB at k = 1: no AC coefficients
    return enc.flush()


def arithmetic_jpeg(blocks_h: int = 3, blocks_w: int = 4, seed: int = 3) -> tuple[bytes, np.ndarray]:
    """(JPEG bytes, expected RGB) for a grayscale SOF9 image of flat 8x8 blocks."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(16, 240, size=(blocks_h, blocks_w))
    dcs = [int(8 * (v - 128)) for v in levels.ravel()]
    h, w = 8 * blocks_h, 8 * blocks_w

    def seg(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload

    data = (b"\xff\xd8"
            + seg(0xDB, b"\x00" + b"\x01" * 64)                              # DQT: table 0, all ones
            + seg(0xC9, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")  # SOF9: arithmetic, sequential
            + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")                         # SOS: Ss=0, Se=63
            + _encode_dc_only(dcs) + b"\xff\xd9")
    gray = np.kron(levels, np.ones((8, 8))).astype(np.uint8)
    return data, np.repeat(gray[..., None], 3, axis=2)
