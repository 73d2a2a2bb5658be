"""``endorm-serve`` as the engines use it: a real server process on a free port with the bundled model,
driven by endorm-score's rows, OpenRLHF's own client code (and the exact payload its agent builds),
verl's ``compute_score`` call, TRL's reward callables and GRPOTrainer, and hostile clients
(docs/serve.md). Expected rewards come from ``endorm-score`` and ``EndogenousReward`` in this process."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from endorm_tasks.serve.clients import AsyncEndormServeReward, EndormServeReward, ServeClient, ServeError

TOKEN = "test-token-4f9c"
MAX_QUEUE = 12
BODY_TIMEOUT = 2.0
QUESTION = "What is the capital of France?"
ANSWERS = ["Paris.", "The capital of France is Paris.", "Lyon, I think.", "It is Paris <|im_end|> of course"]


def close(actual: float, expected: float) -> bool:
    """One token reward to float32 rounding: 1e-5 of its size (at least 1e-5). The two processes may
    split matrix products over other thread counts (CI measured more than 1e-5 on token rewards of about
    30), so this is the scorer's batch invariance for one term; a sum over many tokens is ``near``."""
    return abs(actual - expected) <= 1e-5 * max(1.0, abs(expected))


def near(actual: float, expected: dict) -> bool:
    """Equal within the scorer's batch invariance (docs/definitions.md#numerics): a row scored in another
    group (alone, or with other completions of its prompt) differs by float32 rounding, which grows with
    the magnitudes of the token rewards summed, 1e-5 x sum |r_t| (as tests/test_scorer.py bounds it)."""
    return abs(actual - expected["reward"]) <= 1e-5 * max(1.0, sum(map(abs, expected["token_rewards"])))


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log
        self.host, self.port = url.removeprefix("http://").split(":")
        self.client = ServeClient(url, TOKEN, timeout=120)

    def health(self) -> dict:
        return self.client.request("/health")

    def raw(self, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN,
            headers: dict | None = None) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) of one request sent as is."""
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=120)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=body, headers=sent)
        reply = connection.getresponse()
        data = reply.read()
        connection.close()
        return reply.status, dict(reply.getheaders()), json.loads(data) if data else {}

    def post(self, path: str, payload, **kwargs) -> tuple[int, dict, dict]:
        return self.raw("POST", path, json.dumps(payload).encode(), **kwargs)


def start_server(log: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "endorm_tasks.serve.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=log.open("w"), env=env)


def launch(log: Path, model: Path, *args: str) -> Server:
    """A running endorm-serve on a free port (it prints the port it bound)."""
    process = start_server(log, "--model", str(model), "--port", "0", "--threads", "1", *args)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        started = [line for line in log.read_text().splitlines() if line.startswith("endorm-serve: ")]
        if started:
            return Server(process, started[0].split(" on ")[1].split()[0], log)
        if process.poll() is not None:
            pytest.fail(f"endorm-serve exited {process.returncode}: {log.read_text()}")
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"endorm-serve did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def server(smollm2_path, tmp_path_factory):
    """The server most tests use: with a bearer token, a small queue and a short body timeout."""
    running = launch(tmp_path_factory.mktemp("serve") / "stderr.txt", smollm2_path, "--token", TOKEN,
                     "--max_queue", str(MAX_QUEUE), "--body_timeout", str(BODY_TIMEOUT))
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


@pytest.fixture(scope="module")
def open_server(smollm2_path, tmp_path_factory):
    """A token-less loopback server (OpenRLHF's HTTP client sends no Authorization header)."""
    running = launch(tmp_path_factory.mktemp("serve") / "stderr.txt", smollm2_path)
    running.client.token = None
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def score_rows_in_process(rows: list[dict], tmp_path: Path, smollm2_path, *flags: str) -> list[dict]:
    """endorm-score's output rows for ``rows`` (the reference the server must equal)."""
    from endorm_tasks.cli.score import main

    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    main([str(source), "-o", str(out), "--model", str(smollm2_path), "--per_token", *flags])
    return [json.loads(line) for line in out.read_text().splitlines()]


# -- faithful: the same rows as endorm-score ------------------------------------------------------------

ROWS = [
    {"prompt": QUESTION, "response": ANSWERS[0], "id": "r1"},
    {"prompt": QUESTION, "response": ANSWERS[3], "id": "r2"},  # a special token's string inside: text
    {"prompt": "Name a prime number.", "response": "7", "system": "Answer in one word.", "id": "r3"},
    {"prompt": "Say nothing.", "response": "", "id": "r4"},  # empty: only the end-of-turn token is scored
]


def test_score_rows_equal_endorm_score(server, tmp_path, smollm2_path):
    expected = score_rows_in_process(ROWS, tmp_path, smollm2_path)
    got = server.client.score(ROWS, per_token=True)
    for row, want in zip(got, expected, strict=True):
        assert row["id"] == want["id"]
        assert row["n_tokens"] == want["n_tokens"] and row["tokens"] == want["tokens"]
        assert near(row["reward"], want), (row["id"], row["reward"], want["reward"])
        assert all(close(a, b) for a, b in zip(row["token_rewards"], want["token_rewards"], strict=True))
        assert row["config"] == want["config"] and row["scorer"]["model_fingerprint"] == want["scorer"]["model_fingerprint"]
        assert row["complete"] is True
    assert "<|im_end|>" not in got[1]["tokens"][:-1]  # only the scored end-of-turn is the control token

    # Each row as its own concurrent request: batched with the others, same rewards.
    results: dict[int, float] = {}

    def one(i: int) -> None:
        results[i] = server.client.score([ROWS[i]])[0]["reward"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ROWS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(near(results[i], expected[i]) for i in range(len(ROWS)))


SENTENCE_ROWS = [
    {"prompt": QUESTION, "response": "Paris is the capital. It is on the Seine!\n\n- one\n- two", "id": "s1"},
    {"prompt": "Name a prime number.", "response": "7", "id": "s2"},
    {"prompt": "Say nothing.", "response": "", "id": "s3"},
]


def same_sentences(got: dict, want: dict) -> bool:
    """The same units (text, character and token spans) with R_k equal to float32 rounding."""
    strip = [{k: v for k, v in unit.items() if k != "reward"} for unit in got["sentences"]]
    return strip == [{k: v for k, v in unit.items() if k != "reward"} for unit in want["sentences"]] and all(
        abs(a["reward"] - b["reward"]) <= 1e-5 * max(1.0, sum(map(abs, want["token_rewards"])))
        for a, b in zip(got["sentences"], want["sentences"], strict=True))


def test_per_sentence_equals_endorm_score(server, tmp_path, smollm2_path):
    expected = score_rows_in_process(SENTENCE_ROWS, tmp_path, smollm2_path, "--per_sentence")
    got = server.client.score(SENTENCE_ROWS, per_token=True, per_sentence=True)
    assert [len(row["sentences"]) for row in got] == [len(row["sentences"]) for row in expected]
    assert len(got[0]["sentences"]) >= 3
    assert all(same_sentences(g, w) for g, w in zip(got, expected, strict=True))


@pytest.fixture(scope="module")
def sentence_server(smollm2_path, tmp_path_factory):
    """A server whose reward is the lowest sentence reward (docs/definitions.md#sentence-reward)."""
    running = launch(tmp_path_factory.mktemp("serve") / "stderr.txt", smollm2_path, "--token", TOKEN,
                     "--aggregate", "sentence_min")
    yield running
    running.process.kill()
    running.process.wait()


def test_sentence_aggregate_is_served_as_endorm_score_computes_it(sentence_server, tmp_path, smollm2_path):
    expected = score_rows_in_process(SENTENCE_ROWS, tmp_path, smollm2_path, "--per_sentence", "--aggregate", "sentence_min")
    got = sentence_server.client.score(SENTENCE_ROWS, per_token=True, per_sentence=True)
    for row, want in zip(got, expected, strict=True):
        assert row["config"]["aggregate"] == "sentence_min" == want["config"]["aggregate"]
        assert near(row["reward"], want) and same_sentences(row, want)
        assert row["reward"] == min(unit["reward"] for unit in row["sentences"])
    # A response cut by the length limit keeps its own units (no end-of-turn token) and bootstraps the
    # value after them.
    cut = sentence_server.client.score([{**SENTENCE_ROWS[0], "ending": "cut"}], per_token=True, per_sentence=True)[0]
    assert cut["complete"] is False and cut["sentences"][-1]["tokens"][1] == cut["n_tokens"] == got[0]["n_tokens"] - 1
    assert cut["reward"] == min(unit["reward"] for unit in cut["sentences"])


def test_info_names_model_settings_and_limits(server, smollm2_path):
    info = server.client.info()
    assert info["config"] == {"gamma": 1.0, "alpha": 1.0, "reward_form": "soft_bellman", "aggregate": "sum",
                              "append_eos": True, "terminal_value": "zero"}
    assert info["scorer"]["model_path"] == str(smollm2_path) and info["prompt_format"] == "chat"
    assert info["max_tokens"] == 8192 and info["stop_strings"] == ["<|im_end|>"] and info["stop_ids"] == [2]
    assert info["limits"]["max_queue"] == MAX_QUEUE


def test_group_sent_as_separate_requests_is_batched(server):
    """A GRPO group of 8 sent as 8 concurrent requests is gathered into fewer scorer calls than requests
    (the prompt's forward pass is shared), with the rewards of the group sent as one request."""
    group = [{"prompt": QUESTION, "response": f"Paris, answer {i}."} for i in range(8)]
    together = server.client.score(group, per_token=True)
    before = server.health()["batches"]
    results: dict[int, float] = {}
    barrier = threading.Barrier(len(group))

    def one(i: int) -> None:
        barrier.wait()
        results[i] = server.client.score([group[i]])[0]["reward"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(group))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.health()["batches"] - before < len(group)
    assert all(near(results[i], together[i]) for i in range(len(group)))


def test_ending_cut_bootstraps_and_text_rule(server):
    complete, cut, text_end, text_cut = server.client.score([
        {"prompt": QUESTION, "response": "Paris"},
        {"prompt": QUESTION, "response": "Paris", "ending": "cut"},
        {"prompt": QUESTION, "response": "Paris<|im_end|>", "ending": "text"},
        {"prompt": QUESTION, "response": "Paris", "ending": "text"},
    ], per_token=True)
    assert complete["tokens"] == ["Paris", "<|im_end|>"] and complete["config"]["terminal_value"] == "zero"
    assert cut["tokens"] == ["Paris"] and cut["config"]["terminal_value"] == "bootstrap" and cut["complete"] is False
    assert text_end["reward"] == complete["reward"] and text_end["complete"] is True
    assert text_cut["reward"] == cut["reward"]
    # Cut after "Paris": r = f(s_1, Paris) - V(s_2), bootstrapped, which is the first token reward of the
    # complete response (the end-of-turn token follows in state s_2 there).
    assert close(cut["reward"], complete["token_rewards"][0]) and not close(cut["reward"], complete["reward"])


# -- OpenRLHF ------------------------------------------------------------------------------------------

def openrlhf_payload(tokenizer, question: str, answer: str, finished: bool) -> tuple[dict, list[int]]:
    """The request OpenRLHF's SingleTurnAgentExecutor sends (openrlhf/utils/agent.py, v0.11.2): the
    chat-templated prompt, and prompt + generated ids decoded with special tokens kept."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(text=prompt, add_special_tokens=False)["input_ids"]
    action = tokenizer(text=answer, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if finished else [])
    query = tokenizer.decode(prompt_ids + action, skip_special_tokens=False)
    return {"query": [query], "prompts": [prompt], "labels": ["Paris"]}, action


def test_get_reward_in_openrlhf_shapes(server, smollm2_tokenizer):
    finished, _ = openrlhf_payload(smollm2_tokenizer, QUESTION, ANSWERS[1], True)
    truncated, _ = openrlhf_payload(smollm2_tokenizer, QUESTION, ANSWERS[1], False)
    status, _, reply = server.post("/get_reward", {key: finished[key] + truncated[key] for key in finished})
    assert status == 200 and set(reply) == {"rewards", "scores", "extra_logs"}
    assert reply["rewards"] == reply["scores"] and reply["extra_logs"]["endorm_complete"] == [1.0, 0.0]
    complete, cut = server.client.score([{"prompt": QUESTION, "response": ANSWERS[1]},
                                         {"prompt": QUESTION, "response": ANSWERS[1], "ending": "cut"}])
    assert close(reply["rewards"][0], complete["reward"]) and close(reply["rewards"][1], cut["reward"])

    status, _, reply = server.post("/get_reward", {"query": [finished["query"][0], "something else"],
                                                   "prompts": [finished["prompts"][0], finished["prompts"][0]], "labels": [None, None]})
    assert status == 422 and "query[1] does not start with prompts[1]" in reply["detail"]
    status, _, reply = server.post("/get_reward", {"query": finished["query"], "prompts": []})
    assert status == 422 and "'prompts' has 0 entries for 1 queries" in reply["detail"]


class GeneratedOnce:
    """The rollout side of OpenRLHF's executor (vLLM's ``generate``), returning fixed token ids."""

    def __init__(self, ids: list[int], finished: bool) -> None:
        self.output = types.SimpleNamespace(token_ids=ids, finish_reason="stop" if finished else "length", logprobs=None,
                                            text="")

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        return types.SimpleNamespace(outputs=[self.output])


def test_openrlhf_own_client_over_http_and_reward_func_file(server, open_server, smollm2_tokenizer, monkeypatch):
    """OpenRLHF's SingleTurnAgentExecutor (``pip install --no-deps openrlhf pylatexenc``) with the server's
    URL (its HTTP client sends no bearer token: a token-less loopback server), and with the shipped
    ``reward_func`` file as its remote reward path (which sends $ENDORM_SERVE_TOKEN)."""
    agent = pytest.importorskip("openrlhf.utils.agent")
    monkeypatch.setenv("ENDORM_SERVE_URL", server.url)
    monkeypatch.setenv("ENDORM_SERVE_TOKEN", TOKEN)
    reward_file = subprocess.run([sys.executable, "-m", "endorm_tasks.serve.cli", "--client_path", "openrlhf"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    complete, cut = server.client.score([{"prompt": QUESTION, "response": ANSWERS[0]},
                                         {"prompt": QUESTION, "response": ANSWERS[0], "ending": "cut"}], per_token=True)
    for remote in (f"{open_server.url}/get_reward", reward_file):
        executor = agent.SingleTurnAgentExecutor(remote)
        assert (executor.reward_func is None) == remote.startswith("http")
        for finished, expected in ((True, complete), (False, cut)):
            payload, action = openrlhf_payload(smollm2_tokenizer, QUESTION, ANSWERS[0], finished)
            params = types.SimpleNamespace(max_tokens=32, logprobs=None)
            out = asyncio.run(executor.execute(payload["prompts"][0], "Paris", params, 256, smollm2_tokenizer,
                                               GeneratedOnce(action, finished)))
            assert near(out["scores"][0], expected), (remote, finished)
            assert out["extra_logs"]["endorm_complete"] == [float(finished)]


# -- verl ----------------------------------------------------------------------------------------------

def test_verl_compute_score_sync_and_async(server, monkeypatch):
    """verl's reward manager calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)``
    per response (verl/experimental/reward_loop/reward_manager/naive.py), its reward_kwargs merged in."""
    from endorm_tasks.serve.verl_reward import compute_score, compute_score_async

    monkeypatch.setenv("ENDORM_SERVE_TOKEN", TOKEN)
    expected = server.client.score([{"prompt": QUESTION, "response": a} for a in ANSWERS[:3]]
                                   + [{"prompt": QUESTION, "system": "Be brief.", "response": ANSWERS[0]}], per_token=True)
    extra = {"prompt": QUESTION, "index": 0, "num_turns": None, "rollout_reward_scores": {}}
    got = [compute_score(data_source="geo", solution_str=a, ground_truth="Paris", extra_info=dict(extra), url=server.url)
           for a in ANSWERS[:3]]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    got.append(compute_score(data_source="geo", solution_str=ANSWERS[0], ground_truth="Paris",
                             extra_info={"prompt": messages}, url=server.url))
    assert all(near(g, e) for g, e in zip(got, expected, strict=True))

    async def group() -> list[float]:
        return await asyncio.gather(*(compute_score_async(data_source="geo", solution_str=a, ground_truth="Paris",
                                                          extra_info=dict(extra), url=server.url) for a in ANSWERS[:3]))

    assert all(near(g, e) for g, e in zip(asyncio.run(group()), expected[:3]))
    with pytest.raises(ValueError, match="extra_info has no 'prompt'"):
        compute_score(data_source="geo", solution_str="x", ground_truth="y", extra_info={}, url=server.url)


# -- TRL -----------------------------------------------------------------------------------------------

def trl_batch(tokenizer) -> tuple[list, list, list]:
    """What GRPOTrainer hands a reward function for one conversational prompt, group of 4: the first
    two ended (last id eos), the last two were cut."""
    prompt = [{"role": "user", "content": QUESTION}]
    texts = ANSWERS[:2] + ["Paris is the capital", "The capital"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if i < 2 else [])
           for i, t in enumerate(texts)]
    return [prompt] * 4, [[{"role": "assistant", "content": t}] for t in texts], ids


def test_trl_reward_callables_match_in_process_reward(server, smollm2):
    from trl.trainer.utils import is_async_callable

    from endorm_rl.rewards import EndogenousReward

    model, tokenizer = smollm2
    prompts, completions, ids = trl_batch(tokenizer)
    reference = EndogenousReward(model, tokenizer)
    stats = reference.token_stats(prompts, completions, ids)
    expected = [{"reward": reward, "token_rewards": reference.scorer.reward(s).token_rewards.tolist()}
                for reward, (s, _) in zip(reference.rewards(stats, reference.scorer.config.sweep), stats)]
    sync = EndormServeReward(server.url, TOKEN)
    got = sync(prompts=prompts, completions=completions, completion_ids=ids, trainer_state=None)
    assert all(near(g, e) for g, e in zip(got, expected, strict=True))
    reward = AsyncEndormServeReward(server.url, TOKEN)
    assert is_async_callable(reward) and not is_async_callable(sync)
    got = asyncio.run(reward(prompts=prompts, completions=completions, completion_ids=ids))
    assert all(near(g, e) for g, e in zip(got, expected, strict=True))
    import pickle

    assert pickle.loads(pickle.dumps(reward)).client.url == server.url


@pytest.mark.slow
def test_trl_grpo_trains_on_the_served_reward(server, smollm2_path, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    before = server.health()["scored"]
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": f"What is {a} + {a}?"}]} for a in range(4)])
    config = GRPOConfig(output_dir=str(tmp_path / "run"), use_cpu=True, bf16=False, max_steps=2, per_device_train_batch_size=2,
                        num_generations=2, max_completion_length=8, logging_steps=1, report_to=[], save_strategy="no")
    trainer = GRPOTrainer(model=str(smollm2_path), reward_funcs=[AsyncEndormServeReward(server.url, TOKEN)],
                          args=config, train_dataset=data)
    trainer.train()
    logged = [e["rewards/endogenous/mean"] for e in trainer.state.log_history if "rewards/endogenous/mean" in e]
    assert len(logged) == 2 and all(math.isfinite(r) for r in logged)
    assert server.health()["scored"] - before == 2 * 2  # 2 steps x a batch of 2 completions (1 prompt x 2 generations)


# -- hostile clients ---------------------------------------------------------------------------------

HOSTILE = [
    ("malformed JSON", b'{"rows": [', 422, "json_invalid"),
    ("wrong type", json.dumps({"rows": [{"prompt": 1, "response": "x"}]}).encode(), 422, "rows', 0, 'prompt'"),
    ("string for a boolean", json.dumps({"rows": [{"prompt": "a", "response": "b"}], "per_token": "yes"}).encode(), 422,
     "per_token"),
    ("missing prompt", json.dumps({"rows": [{"response": "x"}]}).encode(), 422, "either 'prompt'"),
    ("unknown field in a row", json.dumps({"rows": [{"prompt": "a", "response": "b", "respons": "c"}]}).encode(), 422, "respons"),
    ("unknown top-level field", json.dumps({"rows": [{"prompt": "a", "response": "b"}], "gama": 1}).encode(), 422, "gama"),
    ("no rows", json.dumps({"rows": []}).encode(), 422, "rows"),
    ("other reward settings", json.dumps({"rows": [{"prompt": "a", "response": "b"}], "config": {"gamma": 0.9, "alpha": 1.0}}).encode(),
     409, "this server scores with gamma=1.0, the request asks gamma=0.9"),
    ("unknown setting", json.dumps({"rows": [{"prompt": "a", "response": "b"}], "config": {"gama": 0.9}}).encode(), 422,
     "unknown setting 'gama'"),
    ("100k-token response", json.dumps({"rows": [{"prompt": "a", "response": "b"}, {"prompt": "a", "response": " x" * 100_000}]}).encode(),
     413, "rows[1]: context"),
    ("10 MB body", json.dumps({"rows": [{"prompt": "a", "response": "x" * 10_000_000}]}).encode(), 413, "larger than"),
    ("lone surrogate", b'{"rows": [{"prompt": "a", "response": "\\ud800"}]}', 422, "rows"),
]


@pytest.mark.parametrize("body,status,needle", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_request_is_a_4xx_and_the_server_keeps_serving(server, body, status, needle):
    got, _, reply = server.raw("POST", "/score", body)
    assert got == status, reply
    assert needle in json.dumps(reply["detail"]).replace('"', "'") or needle in str(reply["detail"])
    assert server.client.score([{"prompt": "a", "response": "b"}])[0]["n_tokens"] == 2


def test_bearer_token(server):
    assert server.raw("GET", "/info", token=None)[0] == 401
    assert server.raw("GET", "/info", token="wrong")[0] == 401
    status, headers, _ = server.raw("POST", "/score", json.dumps({"rows": []}).encode(), token=None)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert server.raw("GET", "/health", token=None)[0] == 200
    with pytest.raises(ServeError, match="HTTP 401"):
        ServeClient(server.url, "wrong").score([{"prompt": "a", "response": "b"}])


@pytest.mark.parametrize("flags,message", [
    (["--host", "127.0.0.2"], "--host 127.0.0.2 is reachable from other machines: set $ENDORM_SERVE_TOKEN (or --token) "
                              "so that clients must send it as a bearer token"),
], ids=["non-loopback host without a token"])
def test_refused_at_start(flags, message):
    run = subprocess.run([sys.executable, "-m", "endorm_tasks.serve.cli", "--port", "0", *flags], capture_output=True,
                         text=True, env={k: v for k, v in os.environ.items() if k != "ENDORM_SERVE_TOKEN"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"endorm-serve: error: {message}"]


def long_rows(n: int) -> list[dict]:
    return [{"prompt": f"Tell me about the number {i}.", "response": f"The number {i} is " + "quite interesting, " * 12}
            for i in range(n)]


def in_background(call) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = call()
        except Exception as err:  # noqa: BLE001 - read by the test
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_full_queue_is_503_with_retry_after_and_nothing_is_lost(server):
    busy, out = in_background(lambda: server.client.score(long_rows(MAX_QUEUE - 4)))
    wait_for(lambda: server.health()["pending"] > 0)
    status, headers, reply = server.post("/score", {"rows": long_rows(8)})
    assert status == 503 and headers["retry-after"] == "1" and "busy" in reply["detail"]
    busy.join()
    assert len(out["value"]) == MAX_QUEUE - 4 and all(math.isfinite(r["reward"]) for r in out["value"])
    status, _, reply = server.post("/score", {"rows": long_rows(MAX_QUEUE + 1)})
    assert status == 413 and "queues at most" in reply["detail"]


def test_disconnected_client_work_is_dropped(server):
    busy, out = in_background(lambda: server.client.score(long_rows(6)))
    wait_for(lambda: server.health()["pending"] > 0)
    before = server.health()
    body = json.dumps({"rows": long_rows(3)}).encode()
    sock = socket.create_connection((server.host, int(server.port)))
    sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " + TOKEN.encode()
                 + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    wait_for(lambda: server.health()["pending"] >= before["pending"] + 3)
    sock.close()
    busy.join()
    assert "value" in out
    wait_for(lambda: server.health()["pending"] == 0)
    after = server.health()
    assert after["cancelled"] - before["cancelled"] == 3
    assert after["scored"] - before["scored"] == 6


def test_slow_client_gets_408_and_others_are_served(server):
    sock = socket.create_connection((server.host, int(server.port)))
    sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " + TOKEN.encode()
                 + b"\r\nContent-Length: 1000\r\n\r\n{\"rows\": [")
    started = time.monotonic()
    assert server.client.score([{"prompt": "a", "response": "b"}])[0]["n_tokens"] == 2  # served meanwhile
    sock.settimeout(BODY_TIMEOUT + 30)
    answer = sock.recv(4096).decode()
    sock.close()
    assert answer.startswith("HTTP/1.1 408") and time.monotonic() - started >= BODY_TIMEOUT * 0.9


def test_sigterm_finishes_requests_in_flight(open_server):
    """Last: stops the token-less server."""
    busy, out = in_background(lambda: open_server.client.score(long_rows(8)))
    wait_for(lambda: open_server.health()["pending"] > 0)
    open_server.process.send_signal(signal.SIGTERM)
    busy.join()
    assert len(out["value"]) == 8 and all(math.isfinite(r["reward"]) for r in out["value"])
    assert open_server.process.wait(timeout=60) == 0
