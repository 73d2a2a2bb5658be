"""``endorm-serve``: serve the endogenous reward of one model over HTTP to RL engines (docs/serve.md).

Loads the model once with one fixed reward configuration (the same flags as ``endorm-score``) and
answers ``GET /health``, ``GET /info``, ``POST /score`` (endorm's rows) and ``POST /get_reward``
(OpenRLHF). Binds 127.0.0.1 unless ``--host`` says otherwise; any other address needs a bearer token
(``ENDORM_SERVE_TOKEN``, or ``--token``). SIGTERM stops accepting connections and finishes the requests
in flight; Ctrl-C likewise, then exits 130.

Exit codes: 0 = stopped by SIGTERM after draining; 2 = bad option (a non-loopback --host without a
token, a port that cannot be bound, alpha out of range, ...); 5 = the model cannot be loaded; 130 = Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path

from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.prompts.formatting import PROMPT_FORMATS
from endorm_tasks.reward.config import (
    RewardConfig,
    StatsSettings,
    SweepSettings,
    add_arguments,
    from_arguments,
)

TOKEN_ENV = "ENDORM_SERVE_TOKEN"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts served without a token: only this machine can reach them."""
CLIENT_FILES = {
    "openrlhf": "openrlhf_reward_func.py",
    "verl": "verl_reward.py",
}
"""The files an engine loads by path (``--client_path NAME`` prints where they are installed)."""


def build_parser() -> argparse.ArgumentParser:
    from endorm_tasks.serve.app import Limits

    d = Limits()
    p = argparse.ArgumentParser(prog="endorm-serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bundled", help="hub id, local path, or 'bundled' (SmolLM2-135M-Instruct)")
    p.add_argument("--prompt_format", choices=PROMPT_FORMATS, default="chat")
    add_arguments(p, SweepSettings, StatsSettings)
    p.add_argument("--dtype", default="float32", help="model weights dtype (float32 on CPU; bfloat16 on GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when available)")
    p.add_argument("--trust_remote_code", action="store_true", help="allow model code from the hub (off by default)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for scoring (default: torch's)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; other than loopback needs a token")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one, printed at start)")
    p.add_argument("--token", default=None, help=f"bearer token clients must send (better: ${TOKEN_ENV}, not in ps)")
    p.add_argument("--max_body_bytes", type=int, default=d.max_body_bytes, help="larger request bodies get 413")
    p.add_argument("--max_tokens", type=int, default=None, help="context + response tokens of one row (default: the model's maximum)")
    p.add_argument("--max_request_tokens", type=int, default=d.max_request_tokens, help="tokens of all rows of one request")
    p.add_argument("--max_queue", type=int, default=d.max_queue, help="responses queued or in scoring; more get 503")
    p.add_argument("--batch_tokens", type=int, default=d.batch_tokens, help="tokens gathered into one scorer call")
    p.add_argument("--max_wait_ms", type=float, default=d.max_wait_ms, help="how long a batch waits for more requests")
    p.add_argument("--batching", action=argparse.BooleanOptionalAction, default=True,
                   help="gather concurrent requests into one scorer call (--no-batching: one request at a time)")
    p.add_argument("--body_timeout", type=float, default=d.body_timeout, help="seconds a client may take to send its body")
    p.add_argument("--graceful_timeout", type=float, default=120.0, help="seconds SIGTERM waits for requests in flight")
    p.add_argument("--client_path", choices=sorted(CLIENT_FILES), help="print the path of an engine's client file and exit")
    return p


def positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UsageError(f"--{name} must be positive, got {value}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); a port in use or an address this machine lacks is a usage error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UsageError(f"--host {host}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot bind {host}:{port}: {err.strerror}; give another --port or --host") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from endorm_tasks.cli.score import load_scoring, scoring_device
    from endorm_tasks.serve.app import Limits, RewardService, build_app

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.host not in LOOPBACK and not token:
        raise UsageError(f"--host {args.host} is reachable from other machines: set ${TOKEN_ENV} (or --token) so that "
                         "clients must send it as a bearer token")
    positive(args, "threads", "max_body_bytes", "max_tokens", "max_request_tokens", "max_queue", "batch_tokens",
             "body_timeout", "graceful_timeout")
    if args.max_wait_ms < 0:
        raise UsageError(f"--max_wait_ms must be >= 0, got {args.max_wait_ms}")
    config = RewardConfig(sweep=from_arguments(args, SweepSettings), stats=from_arguments(args, StatsSettings))
    limits = Limits(max_body_bytes=args.max_body_bytes, max_tokens=args.max_tokens,
                    max_request_tokens=args.max_request_tokens, max_queue=args.max_queue,
                    batch_tokens=args.batch_tokens, max_wait_ms=args.max_wait_ms, batching=args.batching,
                    body_timeout=args.body_timeout)
    device = scoring_device(args.device)
    sock = bind(args.host, args.port)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    service = RewardService(load_scoring(args, config, device), args.prompt_format, limits)
    app = build_app(service, token)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"endorm-serve: {args.model} on http://{shown}:{port} ({', '.join(f'{k}={v}' for k, v in config.as_dict().items())}, "
          f"prompt_format={args.prompt_format}, batching={'on' if args.batching else 'off'})", file=sys.stderr, flush=True)
    # uvicorn re-raises the signal it stopped on once it has drained; SIGTERM then ends the process with 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=args.graceful_timeout))
    server.run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.client_path:
        print(Path(__file__).with_name(CLIENT_FILES[args.client_path]))
        return
    run_cli("endorm-serve", lambda: serve(args))


if __name__ == "__main__":
    main()
