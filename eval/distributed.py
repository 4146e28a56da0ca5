"""Several processes (GPUs, nodes) under ``torch.distributed``: who am I, my shard, gather on rank 0.

``torchrun --nproc-per-node N --no-python dynahate eval ...`` starts N copies of the command and
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; :func:`from_environment`
reads them (no ``WORLD_SIZE``, or 1: one process, and nothing here touches ``torch.distributed``).
Each rank evaluates one contiguous shard of every split (rank r of W: posts ``n*r//W`` up to
``n*(r+1)//W``), on ``cuda:LOCAL_RANK`` when there is a GPU (backend nccl) or on the CPU (gloo);
rank 0 gathers the shards in rank order, so the predictions are in input order, as one process
writes them.

Errors: :meth:`Ranks.agree` runs a step on every rank and exchanges whether it failed. If any
rank failed, the lowest failing rank reports its error (one ``error:`` line, or the traceback of
an unexpected error, as one process would), then every rank exits with that status (2 or 1),
the others silently, so no rank waits forever for a collective its peers left and an error
that every rank hit (a bad file) is reported once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from dynahate.core.errors import DynahateError

T = TypeVar("T")
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, count: int) -> range:
        """This rank's contiguous part of ``range(count)``; the parts of all ranks tile it in rank order."""
        return range(count * self.rank // self.world_size, count * (self.rank + 1) // self.world_size)

    def gather(self, value: T) -> list[T] | None:
        """Every rank's ``value``, in rank order, on rank 0; ``None`` on the other ranks."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(value, gathered, dst=0)
        return gathered

    def agree(self, step: Callable[[], T]) -> T:
        """``step()`` on every rank; if it failed on any rank, end all ranks (see the module docstring)."""
        if not self.distributed:
            return step()
        import torch.distributed as dist

        error: BaseException | None = None
        try:
            value = step()
        except Exception as exc:  # noqa: BLE001 - reported below, once
            error = exc
        status = None if error is None else (2 if isinstance(error, DynahateError) else 1)
        statuses: list[Any] = [None] * self.world_size
        dist.all_gather_object(statuses, status)
        failed = [rank for rank, code in enumerate(statuses) if code is not None]
        if not failed:  # step() returned here too, so value is bound
            return value  # pyright: ignore[reportPossiblyUnboundVariable, reportReturnType]
        # Every rank leaves now. torchrun SIGTERMs the others as soon as one exits, so the lowest failing
        # rank reports before anyone leaves (the barrier), and no rank turns that SIGTERM into a second line.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.rank == failed[0]:
            if isinstance(error, DynahateError):
                print(f"error: {error}", file=sys.stderr, flush=True)  # as dynahate.core.cli prints it
            else:
                traceback.print_exception(error, file=sys.stderr)
            sys.stderr.flush()
        dist.barrier()
        raise SystemExit(statuses[failed[0]])

def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise DynahateError(f"environment variable {name} must be a whole number, got {text!r}") from None


def from_environment() -> Ranks:
    """This process's place, from torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``."""
    world_size = _env_int("WORLD_SIZE")
    if world_size is None or world_size == 1:
        return Ranks()
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    if world_size < 1 or rank is None or not 0 <= rank < world_size:
        raise DynahateError(f"WORLD_SIZE={world_size} needs RANK in 0..{world_size - 1} (start with torchrun), "
                            f"got RANK={os.environ.get('RANK')!r}")
    return Ranks(rank, world_size, local_rank if local_rank is not None else 0)


def device_for(ranks: Ranks) -> str | None:
    """``cuda:LOCAL_RANK`` for a rank with a GPU, ``cpu`` for one without; ``None`` (the default) for one process."""
    if not ranks.distributed:
        return None
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    if ranks.local_rank >= torch.cuda.device_count():
        raise DynahateError(f"LOCAL_RANK={ranks.local_rank} but this node has {torch.cuda.device_count()} GPU(s): "
                            f"give torchrun --nproc-per-node at most {torch.cuda.device_count()}")
    return f"cuda:{ranks.local_rank}"


@contextlib.contextmanager
def process_group(ranks: Ranks) -> Iterator[str | None]:
    """Join the process group (nccl on GPU, gloo on CPU) for the block; yield the backend (``None``: one process).

    Ranks other than 0 print nothing on stdout inside the block, and no transformers progress bar or
    warning (errors still reach stderr).
    """
    if not ranks.distributed:
        yield None
        return
    import torch
    import torch.distributed as dist

    device = device_for(ranks)
    backend = "nccl" if device and device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group(backend)
    if not ranks.is_main:  # one set of progress bars and warnings: rank 0's
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull, \
                (contextlib.nullcontext() if ranks.is_main else contextlib.redirect_stdout(devnull)):
            yield backend
    finally:
        dist.destroy_process_group()
