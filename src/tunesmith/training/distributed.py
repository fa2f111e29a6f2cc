"""Device choice (cuda, mps, cpu) and the torchrun process group (nccl on GPU, gloo on CPU);
only rank 0 writes the run directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist

from tunesmith.errors import UserError


def pick_device() -> torch.device:
    """TUNESMITH_DEVICE if set, else cuda, else mps, else cpu."""
    if os.environ.get("TUNESMITH_DEVICE"):
        return torch.device(os.environ["TUNESMITH_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class Group:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def share(self, value: Any) -> Any:
        """Rank 0's value, on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, work: Callable[[], Any]) -> Any:
        """Do `work` on rank 0 only and give its result, or its UserError, to every rank."""
        outcome = None
        if self.is_main:
            try:
                outcome = ("ok", work())
            except UserError as err:
                outcome = ("error", (str(err), err.option))
        kind, value = self.share(outcome)
        if kind == "error":
            raise UserError(*value)
        return value

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any rank."""
        if not self.active:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def join_group() -> Group:
    """The process group torchrun describes in the environment, or a group of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device()
    if world_size <= 1:
        return Group(device=device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Group(rank, world_size, device)
