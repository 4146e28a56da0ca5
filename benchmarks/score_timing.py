"""Time ``ScoreEngine.score`` of whichever ``dynahate`` is importable, to compare two versions on one GPU.

Run it once per version (each installed into its own folder on ``PYTHONPATH``), on the same adapter
and posts, then compare the saved outputs:

    PYTHONPATH=/tmp/old python benchmarks/score_timing.py old RUN excerpt.jsonl 4120 8192,32768
    PYTHONPATH=/tmp/new python benchmarks/score_timing.py new RUN excerpt.jsonl 4120 8192,32768
    python benchmarks/score_timing.py --compare /tmp/old_8192.json /tmp/new_8192.json

Each run loads the adapter in 4-bit, warms up on 16 posts, then times the posts at each token budget
(CUDA-synchronised), counting decoder forward calls, and writes ``/tmp/<tag>_<budget>.json``
(p_hate and label per post). ``--compare`` prints label agreement, the largest p_hate difference
and the time ratio. Needs a CUDA GPU.
"""

from __future__ import annotations

import json
import sys
import time


def compare(first: str, second: str) -> None:
    a, b = (json.load(open(path)) for path in (first, second))
    diff = max(abs(x - y) for x, y in zip(a["p_hate"], b["p_hate"], strict=False))
    agree = sum(x == y for x, y in zip(a["pred"], b["pred"], strict=False))
    print(f"{first} vs {second}: labels equal {agree}/{len(a['pred'])}, largest |p_hate difference| {diff:.2e}, "
          f"time {a['seconds']:.2f} s vs {b['seconds']:.2f} s = {a['seconds'] / b['seconds']:.2f}x")


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
        return
    import torch

    from dynahate.inference.model_loading import load_adapter_model
    from dynahate.inference.score_engine import ScoreEngine

    tag, adapter, data, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    budgets = [int(x) for x in sys.argv[5].split(",")]
    unique = [json.loads(line)["input"] for line in open(data, encoding="utf-8") if line.strip()]
    posts = (unique * (n // len(unique) + 1))[:n]
    start = time.perf_counter()
    loaded = load_adapter_model(adapter, None, quantize=True, force=True)
    print(f"{tag}: loaded in {time.perf_counter() - start:.1f} s on {torch.cuda.get_device_name(0)}", flush=True)
    calls = [0]
    loaded.model.get_base_model().model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    for budget in budgets:
        engine = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=budget, progress=False)
        engine.score(unique[:16])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        calls[0] = 0
        start = time.perf_counter()
        results = engine.score(posts)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(f"{tag} budget {budget:6d}: {seconds:6.2f} s  {n / seconds:7.1f} posts/s  forward calls {calls[0]}  "
              f"peak {torch.cuda.max_memory_allocated() / 2**30:5.1f} GiB", flush=True)
        with open(f"/tmp/{tag}_{budget}.json", "w", encoding="utf-8") as handle:
            json.dump({"seconds": seconds, "p_hate": [r.p_hate for r in results], "pred": [r.pred for r in results]},
                      handle)


if __name__ == "__main__":
    main()
