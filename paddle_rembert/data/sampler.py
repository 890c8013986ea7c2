"""Batch samplers that make an N-process run equal a 1-process run, and exact eval sharding.

Training: one global order per epoch is drawn from ``(seed, epoch)`` alone, cut into global
batches of ``batch_size * world_size``, and each global batch is split into contiguous pieces,
one per rank, so the pieces concatenated in rank order are the global batch. Nothing depends on
the world size except the split, so N processes with per-device batch B/N see exactly the
batches of 1 process with batch B (the gradient all-reduce then sums the same examples).

Evaluation: each rank takes a contiguous shard; shards differ in size by at most one and are
never padded with repeated examples, so after the gather every example is counted exactly once.

Plain numpy: no paddle import, usable in tests and DataLoader workers.
"""
import hashlib
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..runtime.errors import PaddleRembertError


def split_sizes(total: int, parts: int) -> List[int]:
    """Sizes of ``parts`` contiguous pieces of ``total`` items: as even as possible, larger first.

    ``split_sizes(10, 3) == [4, 3, 3]``; ``split_sizes(2, 3) == [1, 1, 0]``.
    """
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def split_batch(batch: Sequence[int], world_size: int) -> List[List[int]]:
    """Cut a global batch into ``world_size`` contiguous pieces (see :func:`split_sizes`).

    ``sum(split_batch(b, n), []) == list(b)`` for every ``n``: that is what makes runs on
    different numbers of processes see the same global batches.
    """
    pieces, start = [], 0
    for size in split_sizes(len(batch), world_size):
        pieces.append([int(i) for i in batch[start:start + size]])
        start += size
    return pieces


class TrainBatchSampler:
    """Per-rank training batches cut from world-size-independent global batches.

    Args:
        num_examples: size of the training set.
        batch_size: per-device batch size; the global batch is ``batch_size * world_size``.
        world_size, rank: this process's place in the job.
        seed: with the epoch, the only source of randomness (``numpy.random.default_rng``).
        lengths: token length of every example. When given, batches are length-grouped: the
            epoch's shuffled order is cut into chunks of ``group_chunk_batches`` global batches,
            each chunk is sorted by length (longest first) and cut into global batches, and the
            order of the full global batches is shuffled, with the one holding the longest
            example moved first so an out-of-memory shows up at step 0, not hours later.
        drop_last: drop the last global batch whenever it is incomplete.
        min_last_batch: keep an incomplete last global batch only if it has at least this many
            examples. Default ``world_size``, the smallest size that gives every rank one
            example, so no rank ever gets an empty batch (which would break the gradient
            all-reduce). Runs on different world sizes therefore agree on every batch except
            possibly that last one; pass the same value (>= the largest world size, e.g. 8) to
            every run to make them agree on it too. At most ``min_last_batch - 1`` examples are
            left out per epoch, and a different few each epoch since the order changes.

    The last global batch, when kept incomplete, is always the last step; ranks then get pieces
    that differ by at most one example. For the 1-process gradient exactly, weight each rank's
    mean loss by ``len(piece) * world_size / global_batch_size_at(step)``.

    Resuming: ``set_epoch(epoch, start_step=k)`` makes the iterator yield exactly the batches
    ``k, k+1, ...`` of that epoch, the ones an uninterrupted run would have seen.
    :meth:`fingerprint` / :meth:`check_resume` catch a resume with other data or settings.
    """

    def __init__(self, num_examples: int, batch_size: int, world_size: int = 1, rank: int = 0,
                 seed: int = 0, lengths: Optional[Sequence[int]] = None,
                 group_chunk_batches: int = 64, drop_last: bool = False,
                 min_last_batch: Optional[int] = None):
        if num_examples < 0 or batch_size < 1 or world_size < 1 or group_chunk_batches < 1:
            raise ValueError("num_examples >= 0, batch_size >= 1, world_size >= 1 and "
                             "group_chunk_batches >= 1 are required")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.global_batch_size = batch_size * world_size
        self.group_chunk_batches = group_chunk_batches
        self.lengths = None
        if lengths is not None:
            self.lengths = np.asarray(lengths, dtype=np.int64)
            if self.lengths.shape != (num_examples,):
                raise ValueError(f"lengths has shape {self.lengths.shape}, expected "
                                 f"({num_examples},)")
        self.min_last_batch = world_size if min_last_batch is None else min_last_batch
        if self.min_last_batch < world_size:
            raise ValueError(f"min_last_batch={min_last_batch} would leave a rank without "
                             f"examples (world_size={world_size})")
        self.num_full_batches, remainder = divmod(num_examples, self.global_batch_size)
        keep = remainder > 0 and not drop_last and remainder >= self.min_last_batch
        self.last_batch_size = remainder if keep else 0
        #: Examples left out of every epoch (the incomplete last batch, when it is dropped).
        self.num_dropped_per_epoch = remainder - self.last_batch_size
        #: Steps per epoch; the same on every rank.
        self.num_batches_per_epoch = self.num_full_batches + keep
        if self.num_batches_per_epoch == 0:
            raise PaddleRembertError(
                f"{num_examples} training examples make no batch of at least "
                f"{self.min_last_batch} (global batch {self.global_batch_size}, world size "
                f"{world_size})")
        self.epoch = 0
        self.start_step = 0

    def global_batches(self, epoch: int) -> List[np.ndarray]:
        """Every global batch of ``epoch`` (arrays of example indices); same for any world size."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_examples)
        size, num_full = self.global_batch_size, self.num_full_batches
        if self.lengths is not None:
            # Sort each chunk by length, longest first; lexsort is stable, so ties keep the
            # shuffled order and the result depends on (seed, epoch) only.
            chunk = np.arange(len(order)) // (size * self.group_chunk_batches)
            order = order[np.lexsort((-self.lengths[order], chunk))]
        full = order[:num_full * size].reshape(num_full, size)
        if self.lengths is not None and num_full:
            full = full[rng.permutation(num_full)]
            longest = int(np.argmax(self.lengths[full].max(axis=1)))
            full[[0, longest]] = full[[longest, 0]]
        batches = list(full)
        if self.last_batch_size:
            batches.append(order[num_full * size:num_full * size + self.last_batch_size])
        return batches

    def global_batch_size_at(self, step: int) -> int:
        """Examples in global batch ``step`` (``global_batch_size`` except an incomplete last)."""
        if not 0 <= step < self.num_batches_per_epoch:
            raise IndexError(f"step {step} not in [0, {self.num_batches_per_epoch})")
        return self.global_batch_size if step < self.num_full_batches else self.last_batch_size

    def rank_batches(self, epoch: int, start_step: int = 0) -> Iterator[List[int]]:
        """This rank's piece of each global batch of ``epoch``, from ``start_step`` on."""
        for batch in self.global_batches(epoch)[start_step:]:
            yield split_batch(batch, self.world_size)[self.rank]

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        """Select the epoch (and, when resuming, the first step) the next iteration yields."""
        if not 0 <= start_step <= self.num_batches_per_epoch:
            raise PaddleRembertError(f"cannot resume at step {start_step}: an epoch has "
                                     f"{self.num_batches_per_epoch} steps")
        self.epoch, self.start_step = epoch, start_step

    def __iter__(self) -> Iterator[List[int]]:
        return self.rank_batches(self.epoch, self.start_step)

    def __len__(self) -> int:
        return self.num_batches_per_epoch - self.start_step

    def fingerprint(self) -> Dict:
        """What fixes the batch order: store it in a checkpoint, pass it to :meth:`check_resume`.

        The world size is not part of it: a run may resume on another number of processes as
        long as the global batch size is the same, and so is each epoch's last batch (kept only
        when it has a row for every process).
        """
        lengths = None
        if self.lengths is not None:
            lengths = hashlib.sha256(self.lengths.tobytes()).hexdigest()[:16]
        return {"num_examples": self.num_examples, "global_batch_size": self.global_batch_size,
                "seed": self.seed, "lengths_sha256": lengths,
                "group_chunk_batches": self.group_chunk_batches if lengths else None,
                "last_batch_size": self.last_batch_size}

    def check_resume(self, saved: Dict) -> None:
        """Raise if ``saved`` (an earlier :meth:`fingerprint`; a key it lacks, from an older version, is not
        compared) would give different batches."""
        now = self.fingerprint()
        diff = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}"
                for k, v in now.items() if k in saved and saved[k] != v]
        if diff:
            hint = "; an epoch's last batch is kept only with a row for every process: resume on the checkpoint's " \
                   "number of processes" if any(d.startswith("last_batch_size") for d in diff) else ""
            raise PaddleRembertError("cannot resume: the training batches would differ from the "
                                     "interrupted run's (" + "; ".join(diff) + ")" + hint)


# ---------------------------------------------------------------------------------------------
# Evaluation sharding
#
# Recipe for the trainer (all ranks run every collective, even a rank with 0 examples):
#     sizes = shard_sizes(n, world_size); mine = shard_range(n, world_size, rank)
#     local = np.zeros((max(sizes), ...));  for b in eval_batches(mine, bs, lengths):
#         local[np.asarray(b) - mine.start] = predict(b)
#     gathered = all_gather(local)            # every rank sends max(sizes) rows
#     predictions = merge_shards(gathered, sizes)  # length n, original order
# ---------------------------------------------------------------------------------------------


def shard_sizes(num_examples: int, world_size: int) -> List[int]:
    """Examples per rank; they differ by at most one, and may be 0 when n < world size."""
    if num_examples < 0 or world_size < 1:
        raise ValueError("num_examples >= 0 and world_size >= 1 are required")
    return split_sizes(num_examples, world_size)


def shard_range(num_examples: int, world_size: int, rank: int) -> range:
    """The contiguous example indices ``rank`` evaluates (possibly empty)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    sizes = shard_sizes(num_examples, world_size)
    start = sum(sizes[:rank])
    return range(start, start + sizes[rank])


def eval_batches(indices: Sequence[int], batch_size: int,
                 lengths: Optional[Sequence[int]] = None) -> List[List[int]]:
    """Batches of ``indices``; longest first by ``lengths`` when given (less padding).

    The batches hold the original example indices, so results can be put back in place
    whatever the batch order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    idx = np.asarray(indices, dtype=np.int64)
    if lengths is not None and len(idx):
        idx = idx[np.argsort(-np.asarray(lengths, dtype=np.int64)[idx], kind="stable")]
    return [idx[s:s + batch_size].tolist() for s in range(0, len(idx), batch_size)]


def merge_shards(gathered: Sequence, sizes: Sequence[int]):
    """Undo the sharding: drop each rank's padding and concatenate in rank order.

    ``gathered[r]`` is rank r's results padded to any length >= ``sizes[r]`` (first axis).
    Returns a numpy array when the parts are arrays, else a list, in the original order.
    """
    if len(gathered) != len(sizes):
        raise ValueError(f"{len(gathered)} gathered parts for {len(sizes)} shards")
    for r, (part, size) in enumerate(zip(gathered, sizes)):
        if len(part) < size:
            raise ValueError(f"rank {r} sent {len(part)} results for a shard of {size}")
    parts = [part[:size] for part, size in zip(gathered, sizes)]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis=0)
    return [x for part in parts for x in part]
