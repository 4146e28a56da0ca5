"""One adversarial round end to end on CPU with the tiny model: ``make loop-demo``, and its test at a smaller size.

1. ``dynahate collect serve`` against the adapter of ``make demo`` (round 8, every entry validated);
2. scripted annotators write posts about made-up groups through the HTTP API, each followed by its perturbation,
   and validators vote on every entry in the queue;
3. ``dynahate collect export`` writes the round as a Dynahate CSV;
4. ``dynahate prepare`` reads the sample (the earlier rounds) and the new round as one set of splits;
5. LLaMA-Factory trains the next adapter, continuing the previous one (``adapter_name_or_path``);
6. ``dynahate eval`` evaluates both adapters on the new splits, ``dynahate compare`` compares them;
7. ``dynahate publish --dry-run`` stages the next adapter's card, with the comparison and the collected round.

Every step is the real command in a subprocess; the annotators are the only script. The posts are synthetic, about
fictional groups, as the sample's are. Run as ``python -m dynahate.testing.loop_demo --demo DEMO_DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

GROUPS = ["Morvish people", "Tallenites", "Quorrin", "Baskel traders", "Ulvanese"]
# (original, its perturbation): a hateful post and a minimal edit that makes it not hateful, or the reverse
PAIRS = [
    ("{g} are rats and we should treat them like it", "{g} are not rats and we should never treat them like it"),
    ("no {g} should be allowed to vote", "no one should stop {g} from being allowed to vote"),
    ("honestly the {g} ruin every street they move into", "honestly the {g} improve every street they move into"),
    ("send every one of the {g} back where they came from", "welcome every one of the {g} wherever they came from"),
    ("I would never hire {g}, they are all thieves", "I would hire {g} again, they are all hard workers"),
    ("{g} breed like vermin", "{g} care for their children like anyone"),
]
HATE_TYPES = ["dehumanization", "derogation", "animosity", "threatening", "derogation", "dehumanization"]
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoopOptions:
    out: Path  # the loop's folder (created)
    adapter: Path  # the previous adapter: what the round is collected against
    sample_csv: Path  # the earlier rounds
    writers: int = 4
    posts_per_writer: int = 6
    validators: int = 3
    votes: int = 2
    train_overrides: tuple[str, ...] = ()  # key=value for llamafactory-cli train (the tiny model's)
    seed: int = 0


def _say(text: str) -> None:
    print(f"== loop: {text}", flush=True)


def _run(*command: str, cwd: Path | None = None) -> str:
    """A subprocess of the loop (``llamafactory-cli``); raises with its output when it fails."""
    proc = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return proc.stdout


def _dynahate(*argv: str) -> str:
    """``dynahate ARGV`` in this process (its ``main``, as the tests call commands); raises with its output when it
    fails, returns what it printed."""
    from dynahate.testing.cli import run_main

    proc = run_main(list(argv), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dynahate {' '.join(argv[:2])} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return proc.stdout


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def annotate(url: str, writers: dict[str, str], validators: dict[str, str], posts_per_writer: int,
             seed: int) -> dict[str, int]:
    """The scripted annotators: each writer writes originals and their perturbations at once (threads), then the
    validators vote on everything in their queue (most votes 'correct', a few 'incorrect'). Returns counts."""
    import httpx

    counts = {"entries": 0, "votes": 0, "refused": 0}
    lock = threading.Lock()

    def write(index: int, token: str) -> None:
        rng = random.Random(seed * 1000 + index)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            for post in range(posts_per_writer):
                pair = (index + post) % len(PAIRS)
                group = GROUPS[(index * 7 + post) % len(GROUPS)]
                original, edit = (text.format(g=group) for text in PAIRS[pair])
                suffix = rng.choice(["", "!", " honestly", " tbh", "..."]) + f" #{index}{post}"
                answer = client.post("/api/entries", json={
                    "text": original + suffix, "label": "hate", "type": HATE_TYPES[pair], "targets": ["fict"]})
                answer.raise_for_status()
                flipped = client.post("/api/entries", json={
                    "text": edit + suffix, "label": "not hate", "original_id": answer.json()["id"]})
                flipped.raise_for_status()
                with lock:
                    counts["entries"] += 2

    threads = [threading.Thread(target=write, args=(i, token)) for i, token in enumerate(writers.values())]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rng = random.Random(seed)
    for token in validators.values():
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while queue := client.get("/api/queue", params={"limit": 200}).json()["entries"]:
                for entry in queue:
                    other = "not hate" if entry["label"] == "hate" else "hate"
                    vote = ({"verdict": "incorrect", "corrected_label": other} if rng.random() < 0.05 else
                            {"verdict": "correct"})
                    answer = client.post(f"/api/entries/{entry['id']}/votes", json=vote)
                    with lock:
                        counts["votes" if answer.status_code == 201 else "refused"] += 1
                if len(queue) < 200:
                    break
    return counts


def run_loop(options: LoopOptions) -> dict[str, Path]:
    """The whole loop; returns the paths of what it wrote."""
    from dynahate.inference.model_loading import read_adapter_config
    from dynahate.testing.collect_process import add_annotators, start_collect

    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    base = read_adapter_config(options.adapter)["base_model_name_or_path"]
    db = f"sqlite:///{out / 'collect.sqlite3'}"
    writers = [f"writer{i}" for i in range(options.writers)]
    validators = [f"validator{i}" for i in range(options.validators)]
    tokens = add_annotators(db, writers + validators)
    _say(f"collect serve: round 8 against {options.adapter}, {len(writers)} writers, {len(validators)} validators")
    proc, url = start_collect(options.adapter, db, out / "collect.log", "--round", "8", "--votes",
                              str(options.votes), "--validate-all", "--rate-limit", "100000")
    try:
        counts = annotate(url, {w: tokens[w] for w in writers}, {v: tokens[v] for v in validators},
                          options.posts_per_writer, options.seed)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    _say(f"{counts['entries']} entries written, {counts['votes']} votes cast")
    print(_dynahate("collect", "stats", "--db", db), end="")
    round_csv = out / "round8.csv"
    print(_dynahate("collect", "export", "--db", db, "--round", "8", "--out", str(round_csv),
               "--seed", str(options.seed), "--force"), end="")
    data = out / "data"
    print(_dynahate("prepare", "--csv", str(options.sample_csv), "--csv", str(round_csv),
               "--out", str(data)), end="")
    lf_data = out / "lf_data"
    lf_data.mkdir(exist_ok=True)
    _dynahate("register", "--dataset-dir", str(lf_data), "--data", str(data))
    run_next = out / "run-next"
    _say(f"training the next adapter, continuing {options.adapter} (adapter_name_or_path)")
    _run(_bin("llamafactory-cli"), "train", str(REPO / "recipes" / "dynahate_qlora.yaml"),
         f"model_name_or_path={base}", f"adapter_name_or_path={options.adapter}", f"dataset_dir={lf_data}",
         f"output_dir={run_next}", "overwrite_output_dir=true", *options.train_overrides, cwd=REPO)
    eval_prev = out / "eval-previous"
    _say("evaluating the previous and the next adapter on the new splits")
    _dynahate("eval", "--adapter", str(options.adapter), "--data-dir", str(data),
         "--output-dir", str(eval_prev))
    _dynahate("eval", "--adapter", str(run_next), "--data-dir", str(data))
    comparison = out / "comparison.json"
    print(_dynahate("compare", str(eval_prev), str(run_next), "--output", str(comparison),
               "--resamples", "2000"), end="")
    stage = out / "hub"
    _dynahate("publish", str(run_next), "--repo-id", "your-name/dynahate-loop", "--data-dir", str(data),
         "--stage-dir", str(stage), "--compare-to", str(eval_prev), "--collected-round",
         str(round_csv.with_name("round8.round.json")), "--dry-run", "--force")
    _say(f"the next adapter's card: {stage / 'README.md'} (staged, not uploaded)")
    return {"db": out / "collect.sqlite3", "round_csv": round_csv, "votes": out / "round8.votes.jsonl",
            "summary": out / "round8.round.json", "data": data, "run_next": run_next, "eval_previous": eval_prev,
            "comparison": comparison, "card": stage / "README.md"}


def continue_overrides(overrides: tuple[str, ...], **values: object) -> tuple[str, ...]:
    """``overrides`` (``key=value`` for ``llamafactory-cli train``) with the keys of ``values`` replaced: for
    continuing a trained adapter, fewer steps and a lower learning rate (the tiny model's 5e-3, right for a new
    adapter, throws a trained one off within a few steps)."""
    kept = tuple(item for item in overrides if item.split("=", 1)[0] not in values)
    return (*kept, *(f"{key}={value}" for key, value in values.items()))


def main(argv: list[str] | None = None) -> int:
    from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES

    parser = argparse.ArgumentParser(description="make loop-demo: one adversarial round on top of make demo")
    parser.add_argument("--demo", type=Path, default=Path("demo"), help="make demo's folder (default demo)")
    parser.add_argument("--posts-per-writer", type=int, default=6)
    args = parser.parse_args(argv)
    paths = run_loop(LoopOptions(
        out=args.demo / "loop", adapter=args.demo / "run",
        sample_csv=REPO / "tests" / "fixtures" / "dynahate_sample.csv",
        posts_per_writer=args.posts_per_writer,
        train_overrides=continue_overrides(TINY_TRAIN_OVERRIDES, max_steps=20, learning_rate="5e-4", logging_steps=5)))
    print(json.dumps({name: str(path) for name, path in paths.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


