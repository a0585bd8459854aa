"""R's default random number generator, to replay R scripts exactly (test helper).

R (``RNGkind()`` defaults since R 3.6.0: Mersenne-Twister, Inversion, Rejection), after R's
``src/main/RNG.c`` and ``src/nmath/snorm.c`` as documented in ``?RNGkind``:

* ``set.seed(s)``: ``s`` is scrambled by 50 steps of the LCG ``s = 69069 s + 1`` (mod 2^32),
  then 625 further steps fill the seed vector, whose first entry (the position) is reset to
  624 and whose other 624 entries are the Mersenne-Twister state (Matsumoto & Nishimura 1998,
  ACM TOMACS 8:3-30, doi:10.1145/272991.272995); numpy's ``MT19937`` with that state produces
  the same 32-bit outputs;
* ``unif_rand()`` = output x 2.3283064365386963e-10, kept inside (0, 1);
* ``norm_rand()`` (Inversion): ``u = floor(2^27 unif_rand()) + unif_rand()``, ``qnorm(u / 2^27)``;
* ``sample(n, size, replace = TRUE)`` (Rejection): each draw takes ``bits = ceil(log2(n))``
  bits, 16 per ``unif_rand()`` (``floor(65536 u)``), and rejects values >= n.

Checked in tests/segmentation/test_challenger.py against values R wrote (challengeR's
``inst/extdata/data_matrix.csv``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

_M32 = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1): R's fixup() bound
_BIG = 134217728  # 2^27


class RRandom:
    """The stream of R's ``set.seed(seed)`` with the default generators."""

    def __init__(self, seed: int) -> None:
        s = seed & _M32
        for _ in range(50):
            s = (69069 * s + 1) & _M32
        key = []
        for _ in range(625):
            s = (69069 * s + 1) & _M32
            key.append(s)
        self._mt = np.random.MT19937(0)
        self._mt.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.array(key[1:], dtype=np.uint32), "pos": 624},
        }

    def unif_rand(self, n: int) -> np.ndarray:
        u = self._mt.random_raw(n).astype(np.float64) * 2.3283064365386963e-10
        return np.clip(u, 0.5 * _I2_32M1, 1.0 - 0.5 * _I2_32M1)

    def runif(self, n: int, a: float = 0.0, b: float = 1.0) -> np.ndarray:
        return a + (b - a) * self.unif_rand(n)

    def rnorm(self, n: int, mean: float = 0.0, sd: float = 1.0) -> np.ndarray:
        u = self.unif_rand(2 * n).reshape(n, 2)
        z = ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG)
        return mean + sd * z

    def sample_index(self, n: int, size: int) -> np.ndarray:
        """``sample(n, size, replace = TRUE) - 1``: 0-based indices."""
        bits = math.ceil(math.log2(n))
        per_draw = bits // 16 + 1
        out: list[int] = []
        while len(out) < size:
            u = self.unif_rand(per_draw)
            v = 0
            for x in u:
                v = 65536 * v + math.floor(x * 65536)
            v &= (1 << bits) - 1
            if v < n:
                out.append(v)
        return np.array(out)
