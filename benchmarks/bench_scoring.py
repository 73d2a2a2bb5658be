"""Speed and memory of endogenous-reward scoring, side by side in one run (issue 10).

Variants, each in its own worker process so that peak memory is per variant:
  (a) ``naive``:   one full forward per response, full [L, |V|] float32 logits, ``torch.logsumexp``;
  (b) ``lm-eval``: lm-eval's HF ``loglikelihood`` at batch size 8 on the same requests;
  (c) ``scorer``:  ``EndoScorer`` (prefix sharing, one response per CPU batch, chunked in-place head).
Part 1 scores RM-Bench chat responses one prompt (6 responses) at a time, the three workers taking
turns (a b c, then c b a, ...), so a shared CPU's changing load falls on all of them alike. Part 2 is
a length sweep of (a) and (c) on one response of 512 .. 4096 tokens, a fresh worker per run.

Every unit of work is timed twice: wall clock, and the process's CPU time, which on a CPU shared with
other jobs is far steadier (it does not count time spent waiting for a core). Model-FLOP utilisation
(MFU) = 2 x (decoder parameters x tokens through the decoder + head parameters x rows through the
output head) / time, against the float32 matmul throughput of the model's own weight shapes at 512
rows, measured (wall and CPU time) in the same worker right after each unit. For (a) and (b) every
token passes the whole model, so this is the usual 2 x parameters x tokens; padding is not counted.
Extra RSS = peak resident memory during a unit minus the resident memory of the loaded, warmed-up model.

    python benchmarks/bench_scoring.py --threads 1     # full run
    python benchmarks/bench_scoring.py --quick         # 12 responses, lengths 512 and 1024
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

VARIANTS = ("naive", "lm-eval", "scorer")
LABELS = {"naive": "(a) naive loop", "lm-eval": "(b) lm-eval hf bs=8", "scorer": "(c) EndoScorer"}
SWEEP_VARIANTS = ("naive", "scorer")
LM_EVAL_BATCH_SIZE = 8
PEAK_ROWS = 512
RESPONSES_PER_DOC = 6
RESULT_TAG = "BENCH-RESULT "
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class Unit:
    """One timed unit of work (one RM-Bench prompt, or one sweep response) as a worker reports it."""

    variant: str
    wall_seconds: float
    cpu_seconds: float
    responses: int
    request_tokens: int
    """Context + scored tokens of every request: the same count for every variant."""
    flops: float
    """Model FLOPs of the tokens this variant actually ran (see the module docstring)."""
    peak_wall_gflops: float
    peak_cpu_gflops: float
    extra_peak_mb: float
    rewards: list[float]


@dataclass
class Totals:
    """A variant's units added up; MFU weights each unit's peak by its time."""

    responses: int
    request_tokens: int
    wall_seconds: float
    cpu_seconds: float
    mfu_wall: float
    mfu_cpu: float
    extra_peak_mb: float
    rewards: list[float]

    @classmethod
    def of(cls, units: list[Unit]) -> "Totals":
        flops = sum(u.flops for u in units)
        return cls(
            responses=sum(u.responses for u in units),
            request_tokens=sum(u.request_tokens for u in units),
            wall_seconds=sum(u.wall_seconds for u in units),
            cpu_seconds=sum(u.cpu_seconds for u in units),
            mfu_wall=flops / sum(u.wall_seconds * u.peak_wall_gflops * 1e9 for u in units),
            mfu_cpu=flops / sum(u.cpu_seconds * u.peak_cpu_gflops * 1e9 for u in units),
            extra_peak_mb=max(u.extra_peak_mb for u in units),
            rewards=[r for u in units for r in u.rewards],
        )


# -- memory and compute ceilings --


def proc_status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status: field {field!r} missing (Linux needed for memory figures)")
    return int(match.group(1))


def reset_peak_rss() -> None:
    """Make VmHWM restart from the current RSS (Linux >= 4.0), so a peak belongs to one unit only."""
    Path("/proc/self/clear_refs").write_text("5")


def flop_parameters(model) -> tuple[int, int]:
    """(decoder parameters a token passes through, output-head parameters); the input embedding is a lookup."""
    head = model.get_output_embeddings().weight
    embedding = model.get_input_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    tied = head.data_ptr() == embedding.data_ptr()
    return total - embedding.numel() - (0 if tied else head.numel()), head.numel()


def matmul_peak_gflops(model, rows: int = PEAK_ROWS, repeats: int = 2) -> tuple[float, float]:
    """float32 GFLOP/s (per wall second, per CPU second) of one matmul per linear layer of the model at
    ``rows`` rows, each shape timed ``repeats`` times and its best time kept."""
    import torch

    shapes: dict[tuple[int, int], int] = {}
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            shapes[tuple(module.weight.shape)] = shapes.get(tuple(module.weight.shape), 0) + 1
    flops = wall = cpu = 0.0
    for (out_features, in_features), count in shapes.items():
        a, b = torch.randn(rows, in_features), torch.randn(in_features, out_features)
        a @ b
        best_wall = best_cpu = float("inf")
        for _ in range(repeats):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            a @ b
            best_wall = min(best_wall, time.perf_counter() - start_wall)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        flops += count * 2.0 * rows * in_features * out_features
        wall += count * best_wall
        cpu += count * best_cpu
    return flops / wall / 1e9, flops / cpu / 1e9


# -- requests --


def chat_requests(tokenizer, data_dir: Path, n_docs: int, first_doc: int = 0) -> list[tuple[str, str, list[int], list[int]]]:
    """(context, response, context ids, scored ids) of RM-Bench chat documents, 6 responses each."""
    from endorm_tasks.benchmarks.rmbench import load_rmbench, responses
    from endorm_tasks.prompts.contexts import format_context
    from endorm_tasks.prompts.formatting import end_of_turn_id

    eot = end_of_turn_id(tokenizer)
    out = []
    for doc in load_rmbench("chat", data_dir)[first_doc : first_doc + n_docs]:
        context = format_context(tokenizer, doc["prompt"])
        context_ids = tokenizer(context).input_ids
        for response in responses(doc):
            out.append((context, response, context_ids, tokenizer(response, add_special_tokens=False).input_ids + [eot]))
    return out


def long_request(tokenizer, data_dir: Path, length: int) -> tuple[str, str, list[int], list[int]]:
    """One response of exactly ``length`` scored tokens: RM-Bench chat answers run together, then end-of-turn."""
    from endorm_tasks.benchmarks.rmbench import load_rmbench
    from endorm_tasks.prompts.contexts import format_context
    from endorm_tasks.prompts.formatting import end_of_turn_id

    docs = load_rmbench("chat", data_dir)
    ids: list[int] = []
    for doc in docs:
        for text in doc["chosen"]:
            ids += tokenizer(text + "\n\n", add_special_tokens=False).input_ids
        if len(ids) >= length:
            break
    if len(ids) < length - 1:
        raise ValueError(f"{data_dir}: RM-Bench chat holds only {len(ids)} response tokens, {length} asked for")
    scored = ids[: length - 1] + [end_of_turn_id(tokenizer)]
    context = format_context(tokenizer, docs[0]["prompt"])
    return context, tokenizer.decode(scored[:-1]), tokenizer(context).input_ids, scored


# -- the three variants: each is prepared once (untimed) and returns (rewards, decoder tokens, head rows) --


def naive_runner(model, tokenizer):
    """The reward (docs/definitions.md#token-reward) from the full logits of one forward per response (gamma 1, terminal value 0)."""
    import torch

    def run(requests) -> tuple[list[float], int, int]:
        rewards, tokens = [], 0
        for _, _, context_ids, scored in requests:
            ids = context_ids + scored
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            values = torch.logsumexp(logits, dim=-1)
            p, t = len(context_ids), len(scored)
            q = logits[p - 1 : p - 1 + t].gather(1, torch.tensor(scored).unsqueeze(1)).squeeze(1)
            token_rewards = torch.cat([q[:-1] - values[p : p + t - 1], q[-1:]])
            rewards.append(float(token_rewards.double().sum()))
            tokens += len(ids)
        return rewards, tokens, tokens

    return run


def lm_eval_runner(model, tokenizer):
    """lm-eval's HF ``loglikelihood`` (log-likelihoods, not R: its scores are not compared)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=LM_EVAL_BATCH_SIZE, device="cpu")

    def run(requests) -> tuple[list[float], int, int]:
        instances = [Instance("loglikelihood", {}, (ctx, resp), i) for i, (ctx, resp, _, _) in enumerate(requests)]
        scores = [score for score, _ in lm.loglikelihood(instances, disable_tqdm=True)]
        # HF drops the last input token: a request runs context + continuation - 1 tokens (padding not counted).
        pairs = (lm._encode_pair(ctx, resp) for ctx, resp, _, _ in requests)
        tokens = sum(len(c) + len(r) - 1 for c, r in pairs)
        return scores, tokens, tokens

    return run


def scorer_runner(model, tokenizer):
    """The project's scorer on the same ids: each distinct context runs once, the head sees T + 1 rows."""
    from endorm_tasks.reward.scorer import EndoScorer

    scorer = EndoScorer(model, tokenizer)

    def run(requests) -> tuple[list[float], int, int]:
        pairs = [(context_ids, scored) for _, _, context_ids, scored in requests]
        rewards = [s.reward for s in scorer.score_ids(pairs)]
        decoder_tokens = sum(len(c) for c in {tuple(c) for c, _ in pairs}) + sum(len(s) for _, s in pairs)
        return rewards, decoder_tokens, sum(len(s) + 1 for _, s in pairs)

    return run


RUNNERS = {"naive": naive_runner, "lm-eval": lm_eval_runner, "scorer": scorer_runner}


# -- worker: one variant, loaded once, running the units it is sent on stdin --


def unit_requests(command: dict, tokenizer, data_dir: Path):
    if "length" in command:
        return [long_request(tokenizer, data_dir, command["length"])]
    return chat_requests(tokenizer, data_dir, command["docs"], command["first_doc"])


def run_unit(variant: str, runner, model, requests, baseline_kb: int) -> Unit:
    gc.collect()
    reset_peak_rss()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    rewards, decoder_tokens, head_rows = runner(requests)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    extra_kb = proc_status_kb("VmHWM") - baseline_kb
    peak_wall, peak_cpu = matmul_peak_gflops(model)
    decoder_params, head_params = flop_parameters(model)
    return Unit(
        variant=variant,
        wall_seconds=wall,
        cpu_seconds=cpu,
        responses=len(requests),
        request_tokens=sum(len(c) + len(s) for _, _, c, s in requests),
        flops=2.0 * (decoder_params * decoder_tokens + head_params * head_rows),
        peak_wall_gflops=peak_wall,
        peak_cpu_gflops=peak_cpu,
        extra_peak_mb=extra_kb / 1024,
        rewards=rewards,
    )


def serve(args) -> None:
    import torch

    from endorm_tasks.bundled import load_model_and_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model_and_tokenizer(args.model)
    with torch.inference_mode():
        runner = RUNNERS[args.worker](model, tokenizer)
        runner(chat_requests(tokenizer, args.data_dir, 1)[:2])  # warm-up, untimed
        gc.collect()
        baseline_kb = proc_status_kb("VmRSS")
        print(RESULT_TAG + json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            requests = unit_requests(json.loads(line), tokenizer, args.data_dir)
            unit = run_unit(args.worker, runner, model, requests, baseline_kb)
            print(RESULT_TAG + json.dumps(asdict(unit)), flush=True)


class Worker:
    """A worker subprocess of one variant; its stderr goes to a temporary file shown if it fails."""

    def __init__(self, args, variant: str) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--model", args.model]
        cmd += ["--data-dir", str(args.data_dir), "--threads", str(args.threads)]
        self.name = variant
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self._read()

    def run(self, command: dict) -> Unit:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return Unit(**self._read())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.log.close()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(RESULT_TAG):
                return json.loads(line[len(RESULT_TAG) :])
        self.proc.wait()
        self.log.seek(0)
        raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}):\n{self.log.read()[-3000:]}")


# -- orchestration and report --


def run_chat(args) -> dict[str, Totals]:
    """Every prompt's 6 responses through (a), (b), (c) in turn, alternating the order."""
    workers = {variant: Worker(args, variant) for variant in VARIANTS}
    units: dict[str, list[Unit]] = {variant: [] for variant in VARIANTS}
    for doc in range(args.responses // RESPONSES_PER_DOC):
        for variant in VARIANTS if doc % 2 == 0 else VARIANTS[::-1]:
            units[variant].append(workers[variant].run({"first_doc": doc, "docs": 1}))
        progress = ", ".join(f"{v} {units[v][-1].wall_seconds:.1f} s" for v in VARIANTS)
        print(f"  prompt {doc + 1}: {progress}", file=sys.stderr, flush=True)
    for worker in workers.values():
        worker.close()
    return {variant: Totals.of(u) for variant, u in units.items()}


def run_sweep(args) -> dict[int, dict[str, Totals]]:
    """One response per length through (a) and (c), each in a fresh worker so its peak memory is its own."""
    out: dict[int, dict[str, Totals]] = {}
    for i, length in enumerate(args.lengths):
        out[length] = {}
        for variant in SWEEP_VARIANTS if i % 2 == 0 else SWEEP_VARIANTS[::-1]:
            worker = Worker(args, variant)
            out[length][variant] = Totals.of([worker.run({"length": length})])
            worker.close()
        print(f"  length {length}: done", file=sys.stderr, flush=True)
    return out


def ratio_line(results: dict[str, Totals], clock: str) -> str:
    speed = {v: results[v].responses / getattr(results[v], f"{clock}_seconds") for v in VARIANTS}
    return f"{clock:>4} time: c/a = {speed['scorer'] / speed['naive']:.2f}   c/b = {speed['scorer'] / speed['lm-eval']:.2f}"


def chat_table(results: dict[str, Totals]) -> list[str]:
    rows = [
        f"{'variant':<21}{'resp/s':>8}{'tok/s':>8}{'MFU':>6}{'resp/CPU-s':>12}{'tok/CPU-s':>11}"
        f"{'MFU(CPU)':>10}{'extra RSS MB':>14}"
    ]
    for variant in VARIANTS:
        m = results[variant]
        rows.append(
            f"{LABELS[variant]:<21}{m.responses / m.wall_seconds:>8.3f}{m.request_tokens / m.wall_seconds:>8.1f}"
            f"{m.mfu_wall:>6.2f}{m.responses / m.cpu_seconds:>12.3f}{m.request_tokens / m.cpu_seconds:>11.1f}"
            f"{m.mfu_cpu:>10.2f}{m.extra_peak_mb:>14.0f}"
        )
    rows += [ratio_line(results, "wall"), ratio_line(results, "cpu")]
    a, c = results["naive"], results["scorer"]
    max_dr = max(abs(x - y) for x, y in zip(a.rewards, c.rewards))
    rows.append(f"max |dR| (a vs c) = {max_dr:.2e} over {len(c.rewards)} responses (b gives log-likelihoods, not R)")
    return rows


def sweep_table(sweep: dict[int, dict[str, Totals]]) -> list[str]:
    rows = [
        f"{'tokens':>6} {'variant':<17}{'wall s':>8}{'ms/tok':>8}{'MFU':>6}{'CPU s':>8}{'CPU ms/tok':>11}"
        f"{'MFU(CPU)':>10}{'extra RSS MB':>14}{'|dR|':>9}"
    ]
    for length, pair in sweep.items():
        d_r = abs(pair["naive"].rewards[0] - pair["scorer"].rewards[0])
        for variant in SWEEP_VARIANTS:
            m = pair[variant]
            rows.append(
                f"{length:>6} {LABELS[variant]:<17}{m.wall_seconds:>8.1f}{1e3 * m.wall_seconds / m.request_tokens:>8.2f}"
                f"{m.mfu_wall:>6.2f}{m.cpu_seconds:>8.1f}{1e3 * m.cpu_seconds / m.request_tokens:>11.2f}"
                f"{m.mfu_cpu:>10.2f}{m.extra_peak_mb:>14.0f}{d_r:>9.1e}"
            )
    short, long = sweep[min(sweep)]["scorer"], sweep[max(sweep)]["scorer"]
    naive_long = sweep[max(sweep)]["naive"]
    per_token = {clock: [getattr(m, f"{clock}_seconds") / m.request_tokens for m in (short, long)] for clock in ("wall", "cpu")}
    rows.append(
        f"at {max(sweep)}: extra RSS (c)/(a) = {long.extra_peak_mb / naive_long.extra_peak_mb:.3f}; "
        f"(c) time per token {max(sweep)}/{min(sweep)}: wall {per_token['wall'][1] / per_token['wall'][0]:.2f}, "
        f"CPU {per_token['cpu'][1] / per_token['cpu'][0]:.2f}"
    )
    return rows


def environment(args) -> str:
    import platform

    import torch

    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    threads = args.threads or f"{torch.get_num_threads()} (torch default)"
    return (
        f"model {args.model}, torch {torch.__version__}, {cpu}, {os.cpu_count()} CPUs, threads {threads}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="model path or hub id (default: the bundled SmolLM2-135M)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ENDORM_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--responses", type=int, default=48, help="RM-Bench chat responses (6 per prompt)")
    parser.add_argument("--lengths", type=int, nargs="*", default=[512, 1024, 2048, 4096])
    parser.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="12 responses, lengths 512 and 1024")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.responses, args.lengths = 12, [512, 1024]
    if args.responses < RESPONSES_PER_DOC:
        parser.error(f"--responses must be at least {RESPONSES_PER_DOC} (one RM-Bench prompt)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        serve(args)
        return
    print(f"bench_scoring: {environment(args)}")
    chat = run_chat(args)
    print(f"\nRM-Bench chat: {chat['scorer'].responses} responses, {chat['scorer'].request_tokens} context + scored tokens")
    print("\n".join(chat_table(chat)))
    if args.lengths:
        print("\nLength sweep: one response of N scored tokens after a chat context")
        print("\n".join(sweep_table(run_sweep(args))))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
