"""``warmstart.torch.cpu`` (named in the CHANGELOG): the same module as :mod:`.speed.cpu`."""

import sys

from .speed import cpu

sys.modules[__name__] = cpu
