"""sasrec per-request scoring: the numpy encoder (what serving runs) vs the torch module.

Both score the same histories with the same weights (a network of the default shape on
ML-100K's catalogue, or the weights of a stored model with --artifact-uri): one request = the
latest ``max_len`` items encoded, the last vector dotted with every item. Prints the median
microseconds per request for each path in the same run, their ratio, the largest score
difference, torch's thread count, and the load average beside the figures.

    uv run python benchmarks/sasrec_inference.py                 # 1,682 items, hidden 64, 2 blocks
    uv run python benchmarks/sasrec_inference.py --items 3706 --requests 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1682)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()

    import torch

    from recsys.modeling.sasrec.network import encode, item_scores
    from recsys.modeling.sasrec.torch_net import SASRecNet

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = SASRecNet(
        n_items=args.items, max_len=args.max_len, hidden=args.hidden, blocks=args.blocks,
        heads=1, dropout=0.0,
    )  # fmt: skip
    net.eval()
    weights = net.to_weights()
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, args.max_len + 1, args.requests)
    histories = [rng.integers(1, args.items + 1, n).astype(np.intp)[None, :] for n in lengths]

    def numpy_path(h: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return item_scores(weights, encode(weights, h))[0]

    def torch_path(h: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        with torch.no_grad():
            vectors = net(torch.from_numpy(h.astype(np.int64)))[:, -1, :]
            return net.logits(vectors).numpy()[0]

    worst = 0.0
    for h in histories[:200]:
        worst = max(worst, float(np.max(np.abs(numpy_path(h) - torch_path(h)))))
    timings: dict[str, list[float]] = {"numpy": [], "torch": []}
    # Interleaved, so load swings hit both paths alike.
    for h in histories:
        for name, path in (("numpy", numpy_path), ("torch", torch_path)):
            start = time.perf_counter()
            path(h)
            timings[name].append((time.perf_counter() - start) * 1e6)
    med = {name: statistics.median(values) for name, values in timings.items()}
    load = os.getloadavg()
    print(
        f"items {args.items}, hidden {args.hidden}, blocks {args.blocks}, max_len {args.max_len}, "
        f"{args.requests} requests (history lengths 1..{args.max_len}), "
        f"torch threads {args.threads}"
    )
    for name in ("numpy", "torch"):
        print(f"  {name}: median {med[name]:.0f} us/request")
    print(f"  numpy / torch: {med['numpy'] / med['torch']:.2f}")
    print(f"  largest |numpy - torch| score difference: {worst:.2e}")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
