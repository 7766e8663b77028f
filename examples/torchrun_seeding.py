"""Per-sample seeding across ranks: run with any number of processes, each sample gets the same
augmentation.  Each rank writes its samples' outputs to OUT/sample_<i>.pt.

    torchrun --nproc_per_node=2 examples/torchrun_seeding.py OUT
"""
import os
import sys

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataloader import make_dataset  # noqa: E402


def main(out_dir, epoch=1, seed=0, n=8):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    ds = make_dataset(seed, n)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    ds.set_epoch(epoch)
    os.makedirs(out_dir, exist_ok=True)
    for batch in DataLoader(ds, batch_size=2, sampler=sampler, num_workers=0):
        for j, i in enumerate(batch["index"].tolist()):
            torch.save({"image": batch["image"][j], "mask": batch["mask"][j],
                        "keypoints": batch["keypoints"][j], "rank": rank},
                       os.path.join(out_dir, f"sample_{i}.pt"))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
