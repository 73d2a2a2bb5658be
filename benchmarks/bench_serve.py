"""Throughput and latency of ``endorm-serve`` under GRPO traffic, side by side with the in-process reward.

8 concurrent clients each hold one GRPO group (one prompt, 8 completions) and send its completions as
8 concurrent requests of one row (how verl calls ``compute_score``: once per response); with
``--grouped`` each client sends its group as one request (how the TRL and OpenRLHF-file clients call).
The same 64 completions are scored by
  (a) ``EndogenousReward`` in this process, all 64 in one call (TRL's in-process reward),
  (b) ``endorm-serve`` with batching (the default),
  (c) ``endorm-serve --no-batching`` (each request scored alone, as soon as the scorer is free).
The two servers run as separate processes, loaded before timing; the variants take turns round by
round (a b c, then c b a, ...) so the load of a shared CPU falls on all alike. Prints completions per
second, the ratios b/a (target >= 0.9) and b/c (target >= 2), and request latency p50/p99 of (b), (c).

    OMP_NUM_THREADS=1 python benchmarks/bench_serve.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from endorm_tasks.serve.clients import ServeClient

CLIENTS = 8
GROUP = 8
TOPICS = ["the water cycle", "photosynthesis", "the French revolution", "plate tectonics", "compound interest",
          "the immune system", "binary search", "the printing press"]


def prompt_text(topic: str, words: int) -> str:
    """A user prompt of about ``words`` words: a task with context, as GRPO data sets hold them."""
    context = " ".join(f"Point {i}: a detail about {topic} that the answer may use." for i in range(words // 11))
    return f"Read the notes below and explain {topic} to a student in two sentences.\n{context}"


def completion_text(topic: str, index: int, words: int) -> str:
    base = f"Answer {index}: {topic} can be explained simply, step by step, with one example"
    return (base + " " + " ".join(f"and detail {index}-{k}" for k in range(words // 3)))[: words * 7]


def traffic(prompt_words: int, completion_words: int) -> list[list[dict]]:
    """CLIENTS groups of GROUP rows (conversational prompt, complete completions)."""
    return [[{"prompt": prompt_text(topic, prompt_words), "response": completion_text(topic, i, completion_words)}
             for i in range(GROUP)] for topic in TOPICS[:CLIENTS]]


def start(model: str, threads: int, log: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    process = subprocess.Popen([sys.executable, "-m", "endorm_tasks.serve.cli", "--model", model, "--port", "0",
                                "--threads", str(threads), *flags], stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
    while True:
        lines = [line for line in log.read_text().splitlines() if line.startswith("endorm-serve: ")]
        if lines:
            return process, lines[0].split(" on ")[1].split()[0]
        if process.poll() is not None:
            raise SystemExit(f"endorm-serve exited: {log.read_text()}")
        time.sleep(0.2)


def serve_round(url: str, groups: list[list[dict]], grouped: bool) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies) of every client sending its group at once."""
    client = ServeClient(url, timeout=3600)
    latencies: list[float] = []
    lock = threading.Lock()

    def send(rows: list[dict]) -> None:
        began = time.perf_counter()
        client.score(rows)
        with lock:
            latencies.append(time.perf_counter() - began)

    requests = groups if grouped else [[row] for group in groups for row in group]
    threads = [threading.Thread(target=send, args=(rows,)) for rows in requests]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, latencies


def in_process_round(reward, tokenizer, groups: list[list[dict]]) -> float:
    prompts = [[{"role": "user", "content": row["prompt"]}] for group in groups for row in group]
    completions = [row["response"] for group in groups for row in group]
    ids = [tokenizer(c, add_special_tokens=False).input_ids + [tokenizer.eos_token_id] for c in completions]
    began = time.perf_counter()
    reward(prompts=prompts, completions=completions, completion_ids=ids)
    return time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bundled")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every variant")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--prompt_words", type=int, default=120)
    p.add_argument("--completion_words", type=int, default=16)
    p.add_argument("--grouped", action="store_true", help="each client sends its group as one request")
    args = p.parse_args()

    import torch

    from endorm_rl.rewards import EndogenousReward
    from endorm_tasks.bundled import load_model_and_tokenizer

    torch.set_num_threads(args.threads)
    groups = traffic(args.prompt_words, args.completion_words)
    logs = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    servers = {"b": start(args.model, args.threads, logs / "b.txt"),
               "c": start(args.model, args.threads, logs / "c.txt", "--no-batching")}
    model, tokenizer = load_model_and_tokenizer(args.model)
    reward = EndogenousReward(model, tokenizer)
    n = sum(map(len, groups))
    prompt_tokens = len(reward.scorer.encode_context(prompt_text(TOPICS[0], args.prompt_words)))
    completion_tokens = statistics.mean(len(reward.scorer.encode_response(r["response"])) for g in groups for r in g)
    try:
        # warm-up, untimed: first forward passes, thread pools, connections
        in_process_round(reward, tokenizer, [groups[0][:2]])
        for _, url in servers.values():
            serve_round(url, [groups[0][:2]], args.grouped)
        seconds = {"a": 0.0, "b": 0.0, "c": 0.0}
        latencies: dict[str, list[float]] = {"b": [], "c": []}
        for r in range(args.rounds):
            for variant in ("abc" if r % 2 == 0 else "cba"):
                if variant == "a":
                    seconds["a"] += in_process_round(reward, tokenizer, groups)
                else:
                    wall, lat = serve_round(servers[variant][1], groups, args.grouped)
                    seconds[variant] += wall
                    latencies[variant] += lat
                print(f"round {r + 1} {variant}: {seconds[variant]:.1f} s so far", file=sys.stderr, flush=True)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    rate = {v: n * args.rounds / s for v, s in seconds.items()}
    requests = "one request per group" if args.grouped else "one request per completion"
    print(f"{CLIENTS} clients x GRPO groups of {GROUP} ({requests}); prompt {prompt_tokens} tokens, completions "
          f"{completion_tokens:.0f} scored tokens on average; {args.rounds} rounds, {args.threads} torch thread(s) each")
    print("| variant | completions/s | p50 latency s | p99 latency s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| (a) EndogenousReward in process, one call | {rate['a']:.2f} | | |")
    for v, name in (("b", "(b) endorm-serve, batching"), ("c", "(c) endorm-serve --no-batching")):
        print(f"| {name} | {rate[v]:.2f} | {percentile(latencies[v], 0.5):.2f} | {percentile(latencies[v], 0.99):.2f} |")
    print(f"b/a = {rate['b'] / rate['a']:.2f} (target >= 0.9); b/c = {rate['b'] / rate['c']:.2f} (target >= 2)")


if __name__ == "__main__":
    main()
