"""The ``endorm-serve`` application: one reward model, one reward configuration, four routes (docs/serve.md).

Rows are scored through ``endorm-score``'s own functions: the model and scorer are loaded by
``cli.score.load_scoring``, a row's context is ``cli.score.row_context`` (``contexts.render_context``),
responses are encoded by the scorer, and each reward row is ``cli.score.output_row``; a row scored here
and the same row scored by ``endorm-score`` agree (docs/serve.md#faithful).

Request handling stays on the event loop only for what is cheap: a guard (``Guard``) checks the bearer
token and the body size before the body is parsed; the rows are rendered and tokenised on one
preparation thread; scoring runs on the batcher's worker thread.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from endorm_tasks.cli.score import Scoring, output_row, row_context
from endorm_tasks.prompts.formatting import FormatError, encode_text
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, SweepSettings
from endorm_tasks.reward.scorer import ScoredResponse, ScoringError
from endorm_tasks.reward.segmentation import Unit
from endorm_tasks.serve.batching import Batcher, QueueFull
from endorm_tasks.serve.protocol import ENDINGS, RewardRequest, Row, ScoreRequest, openrlhf_rows, split_ending

OPEN_PATHS = frozenset({"/health"})
"""Paths answered without the bearer token (liveness probes)."""


@dataclass(frozen=True)
class Limits:
    """What one request and the whole queue may hold (docs/serve.md#limits)."""

    max_body_bytes: int = 8 * 2**20
    max_tokens: int | None = None
    """Context + scored tokens of one row; None: the model's maximum length."""
    max_request_tokens: int = 2**18
    max_queue: int = 1024
    """Responses queued or being scored; more is a 503 with Retry-After."""
    batch_tokens: int = 16384
    max_wait_ms: float = 5.0
    batching: bool = True
    body_timeout: float = 30.0
    """Seconds a client may take to send its body (a slow client gets 408)."""


class RequestError(Exception):
    """A request refused with ``status`` and a one-line ``detail`` naming the field or row."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


@dataclass
class Prepared:
    """One response ready for the scorer: its ids, the sweep settings its ending calls for, its reply fields."""

    context: list[int]
    scored: list[int]
    sweep: SweepSettings
    complete: bool
    echo: dict[str, Any]
    name: str
    units: list[Unit] | None = None
    """Its sentence units, found for a sentence aggregate or a ``per_sentence`` request."""


class RewardService:
    """The loaded scorer and everything a request needs from it."""

    def __init__(self, scoring: Scoring, prompt_format: str, limits: Limits) -> None:
        self.scoring = scoring
        self.scorer = scoring.scorer
        self.tokenizer = scoring.tokenizer
        self.prompt_format = prompt_format
        self.limits = limits
        self.max_tokens = min(limits.max_tokens or self.scorer.max_length, self.scorer.max_length)
        end_of_turn = self.tokenizer.convert_ids_to_tokens(self.scorer.end_of_turn)
        self.stop_strings = tuple(dict.fromkeys(s for s in (end_of_turn, self.tokenizer.eos_token) if s))
        self.stop_ids = sorted({self.scorer.end_of_turn, self.tokenizer.eos_token_id} - {None})
        self.sentence_aggregate = self.scorer.config.aggregate in SENTENCE_AGGREGATES

    def info(self) -> dict[str, Any]:
        return {
            "scorer": self.scoring.record,
            "config": self.scorer.config.as_dict(),
            "prompt_format": self.prompt_format,
            "max_tokens": self.max_tokens,
            "stop_strings": list(self.stop_strings),
            "stop_ids": self.stop_ids,
            "endings": ENDINGS,
            "limits": {name: getattr(self.limits, name) for name in Limits.__dataclass_fields__ if name != "max_tokens"},
        }

    def check_config(self, asked: dict[str, Any] | None) -> None:
        """Refuse a request that expects other reward settings, naming each difference."""
        if not asked:
            return
        have = {**self.scorer.config.as_dict(), "prompt_format": self.prompt_format}
        unknown = [name for name in asked if name not in have]
        if unknown:
            raise RequestError(422, f"config: unknown setting {unknown[0]!r}; expected one of {', '.join(have)}")
        differ = [name for name in asked if asked[name] != have[name]]
        if differ:
            served = ", ".join(f"{name}={have[name]!r}" for name in differ)
            wanted = ", ".join(f"{name}={asked[name]!r}" for name in differ)
            flags = " ".join(f"--{name} {asked[name]}" for name in differ)
            raise RequestError(409, f"config: this server scores with {served}, the request asks {wanted}; "
                                    f"start another endorm-serve with {flags}")

    def prepare(self, rows: list[Row], field: str = "rows", units: bool = False) -> list[Prepared]:
        """Context and scored ids of every row, its ending read, and its sentence units with ``units`` or
        a sentence aggregate; a row that cannot be scored is named as ``field[index]`` (``rows`` of
        /score, ``query`` of /get_reward)."""
        prepared, total = [], 0
        for index, row in enumerate(rows):
            name = f"{field}[{index}]"
            try:
                item = self.prepare_row(row, name, units or self.sentence_aggregate)
            except (FormatError, ScoringError, ValueError, UnicodeError) as err:
                raise RequestError(422, f"{name}: {err}") from err
            size = len(item.context) + len(item.scored)
            if size > self.max_tokens:
                raise RequestError(413, f"{name}: context ({len(item.context)} tokens) + response ({len(item.scored)} "
                                        f"tokens) = {size} tokens; this server scores at most {self.max_tokens} per row "
                                        "(nothing is truncated)")
            total += size
            if total > self.limits.max_request_tokens:
                raise RequestError(413, f"{name}: the request holds more than {self.limits.max_request_tokens} tokens "
                                        "by this row; split it")
            prepared.append(item)
        return prepared

    def prepare_row(self, row: Row, name: str, with_units: bool = False) -> Prepared:
        if row.context is not None:
            context = row.context  # formatted by the engine's chat template: its special tokens are the template's
        else:
            context = row_context(self.scoring.renderer, {"prompt": row.prompt, "system": row.system}, self.prompt_format)
        body, complete = row.response, row.ending != "cut"
        if row.ending == "text":
            body, complete = split_ending(row.response, self.stop_strings)
        sweep = self.scorer.config.sweep
        if complete:
            scored = self.scorer.encode_response(body, name)
        else:  # cut by a length limit: its own tokens, and the value of the state after them
            scored = encode_text(self.tokenizer, body)
            sweep = replace(sweep, terminal_value="bootstrap")
            if not scored:
                raise ScoringError("nothing to score: an empty response cut by the length limit")
        echo = {} if row.id is None else {"id": row.id}
        # A cut response has no end-of-turn token after its text.
        units = self.scorer.units(body, scored, None if complete else 0) if with_units else None
        return Prepared(self.scorer.encode_context(context), scored, sweep, complete, echo, name, units)

    def score(self, items: list[Prepared]) -> list[ScoredResponse]:
        """Rewards of prepared items in one scorer call (completions of one context share its forward pass)."""
        stats = self.scorer.token_stats([(item.context, item.scored) for item in items], names=[i.name for i in items])
        return [self.scorer.reward_with_units(s, item.units, item.sweep) for s, item in zip(stats, items)]

    def reply_row(self, item: Prepared, scored: ScoredResponse, per_token: bool, per_sentence: bool = False) -> dict[str, Any]:
        row = output_row(item.echo, scored, self.tokenizer, per_token, item.name, self.scoring.record, per_sentence)
        return {**row, "complete": item.complete}


class BodyTooLarge(Exception):
    """More body bytes arrived than ``Limits.max_body_bytes``."""


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware run before any parsing: the bearer token (when set) and the body's size and
    sending time. The body is read here, at most ``max_body_bytes`` of it, and replayed to the app."""

    def __init__(self, app, token: str | None, max_body_bytes: int, body_timeout: float) -> None:
        self.app, self.token = app, token
        self.max_body_bytes, self.body_timeout = max_body_bytes, body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token and scope["path"] not in OPEN_PATHS and not self.authorized(headers.get("authorization", "")):
            await error_response(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                                 {"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.too_large(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(self.read_body(receive), self.body_timeout)
        except TimeoutError:
            await error_response(408, f"the request body took longer than {self.body_timeout:g} s to arrive")(scope, receive, send)
            return
        except BodyTooLarge:
            await self.too_large(scope, receive, send)
            return
        if body is not None:  # None: the client went away
            await self.app(scope, replay(body, receive), send)

    def authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def read_body(self, receive) -> bytes | None:
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def too_large(self, scope, receive, send) -> None:
        await error_response(413, f"the request body is larger than this server's limit of {self.max_body_bytes} bytes; "
                                  "split it")(scope, receive, send)


def replay(body: bytes, receive) -> Callable[[], Awaitable[dict]]:
    """An ASGI ``receive`` that hands over ``body`` once, then the client's own messages (the disconnect)."""
    sent = False

    async def receive_again() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


async def disconnected(request: Request) -> None:
    """Returns when the client closes its connection."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def validation_detail(err: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the offending input (which may be megabytes): where, and what is wrong."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in err.errors()]


def build_app(service: RewardService, token: str | None = None) -> Any:
    """The ASGI application: FastAPI routes behind the ``Guard``."""
    limits = service.limits
    batcher: Batcher[Prepared, ScoredResponse] = Batcher(
        service.score, limits.batch_tokens, limits.max_wait_ms / 1000, limits.max_queue, limits.batching)
    preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="endorm-prepare")

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()  # uvicorn has let every in-flight request finish by now (SIGTERM drains)
        batcher.close()
        preparing.shutdown(wait=False)

    app = FastAPI(title="endorm-serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_detail(err))

    @app.exception_handler(RequestError)
    async def refused(_: Request, err: RequestError) -> JSONResponse:
        return error_response(err.status, err.detail, err.headers)

    async def rewards(request: Request, rows: list[Row], field: str,
                      units: bool = False) -> list[tuple[Prepared, ScoredResponse]] | None:
        """Prepare and score rows; None when the client disconnected first (its queued work is dropped)."""
        items = await asyncio.get_running_loop().run_in_executor(preparing, service.prepare, rows, field, units)
        job = asyncio.ensure_future(batcher.submit(items, sum(len(i.context) + len(i.scored) for i in items)))
        gone = asyncio.ensure_future(disconnected(request))
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done():
            job.cancel()
            return None
        gone.cancel()
        try:
            return list(zip(items, job.result()))
        except QueueFull as err:
            raise RequestError(503, f"busy: {err}; retry shortly", {"Retry-After": "1"}) from err
        except ScoringError as err:
            raise RequestError(422, str(err)) from err

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", **vars(batcher.counters)}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.post("/score")
    async def score(request: Request, body: ScoreRequest) -> Any:
        service.check_config(body.config)
        if len(body.rows) > limits.max_queue:
            raise RequestError(413, f"rows: {len(body.rows)} rows; this server queues at most {limits.max_queue}; split them")
        scored = await rewards(request, body.rows, "rows", body.per_sentence)
        if scored is None:
            return Response(status_code=499)
        try:
            return {"rows": [service.reply_row(item, result, body.per_token, body.per_sentence) for item, result in scored]}
        except ScoringError as err:  # a reward that is not finite is never sent
            raise RequestError(422, str(err)) from err

    @app.post("/get_reward")
    async def get_reward(request: Request, body: RewardRequest) -> Any:
        try:
            rows = openrlhf_rows(body)
        except ValueError as err:
            raise RequestError(422, str(err)) from err
        scored = await rewards(request, rows, "query")
        if scored is None:
            return Response(status_code=499)
        try:
            values = [service.reply_row(item, result, False)["reward"] for item, result in scored]
        except ScoringError as err:
            raise RequestError(422, str(err)) from err
        return {"rewards": values, "scores": values, "extra_logs": {
            "endorm_complete": [float(item.complete) for item, _ in scored],
            "endorm_tokens": [float(len(item.scored)) for item, _ in scored],
        }}

    return Guard(app, token, limits.max_body_bytes, limits.body_timeout)

