"""Count the floating-point operations of a computation, autograd passes included."""

from __future__ import annotations

from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class CountFlops(TorchDispatchMode):
    """FLOPs of the matmuls and convolutions run inside (forward and backward).

    ``torch.utils.flop_counter``'s formulas, without its module tracking (which does not
    support ``torch.autograd.grad`` with ``inputs``, used by guidance).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None
                           ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += int(count(*args, **kwargs, out_val=out))
        return out
