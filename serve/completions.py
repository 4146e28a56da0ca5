"""The OpenAI routes of ``dynahate serve``: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``.

They replace LLaMA-Factory's own routes, which listed ``gpt-3.5-turbo``, ignored ``logprobs``,
``max_completion_tokens`` and ``stream_options``, and sent stream chunks without ``object`` or ``created``. The
generation is still LLaMA-Factory's: its engine builds the prompt (the post as plain text, :mod:`dynahate.serve.chat`)
and the generation settings (greedy, at most 4 new tokens unless the request says otherwise; ``temperature``,
``top_p``, ``n`` and ``presence_penalty`` as LLaMA-Factory maps them), then ``model.generate`` runs here, one
request at a time (LLaMA-Factory's ``MAX_CONCURRENT``), after the request's guard is checked (a request whose client
has gone or whose deadline passed while it waited is not run). On CUDA it runs under the bf16 autocast ``/v1/classify``
and training run under (:mod:`dynahate.inference.numerics`).

- The model's name (:func:`served_model_name`): ``API_MODEL_NAME`` if set, else the Hub repo id of a Hub adapter,
  else the run folder's name. ``/v1/models`` lists it alone, with ``created`` (when the adapter's weights were
  written) and ``owned_by`` (the Hub user or organisation; ``local`` for a run folder); a chat request must name it
  (:mod:`dynahate.serve.chat_request`).
- An answer: ``chat.completion`` with ``id``, ``created``, ``model``, ``choices`` (``message``, ``logprobs``,
  ``finish_reason``: ``stop`` at the end-of-turn token, ``length`` at the token limit) and ``usage``
  (``completion_tokens`` counts the end-of-turn token, as LLaMA-Factory counted it).
- ``logprobs: true`` (and ``top_logprobs`` 0-20): each content token's log-probability and its alternatives', the
  model's own (:mod:`dynahate.serve.logprobs`); the end-of-turn token is not content, so it is not listed.
- ``--log-requests``: each request is written to LLaMA-Factory's request log, as its route wrote it.
- A stream: ``chat.completion.chunk`` events, each with ``id``, ``object``, ``created``, ``model``: the role first,
  then a chunk per token (its text, and its log-probabilities when asked; a token that ends inside a character
  waits for the next), then the ``finish_reason``; with ``stream_options: {"include_usage": true}`` every chunk
  carries ``usage: null`` and a last chunk with no choice carries the usage; then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.inference.numerics import training_autocast
from dynahate.serve.chat import post_text
from dynahate.serve.chat_request import ChatRequest, check_parameters, max_new_tokens, model_not_found
from dynahate.serve.guard import current_guard
from dynahate.serve.logprobs import StepRecorder, TokenLogprob, TokenTexts
from dynahate.serve.openai_errors import CHAT_PATH, MODELS_PATH

MODEL_NAME_ENV = "API_MODEL_NAME"  # LLaMA-Factory's variable for the name /v1/models lists
# LLaMA-Factory's request log (its chat route wrote each request there): silenced unless --log-requests (app.py)
REQUEST_LOG = "llamafactory.api.chat"
_DONE = object()


def served_model_name(adapter: Path, hub: Mapping[str, str | None] | None,
                      environ: Mapping[str, str] = os.environ) -> str:
    """``API_MODEL_NAME``, else the Hub repo id, else the run folder's name."""
    return environ.get(MODEL_NAME_ENV) or (hub or {}).get("repo_id") or Path(adapter).resolve().name


def model_card(name: str, adapter: Path, hub: Mapping[str, str | None] | None) -> dict[str, Any]:
    """The served model as ``/v1/models`` lists it."""
    files = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json")
    weights = [Path(adapter) / file for file in files]
    created = next((int(path.stat().st_mtime) for path in weights if path.is_file()), int(time.time()))
    repo_id = (hub or {}).get("repo_id")
    return {"id": name, "object": "model", "created": created,
            "owned_by": repo_id.split("/")[0] if repo_id else "local"}


@dataclass(frozen=True)
class Generated:
    """One generated answer: its content tokens (the end-of-turn token left out) and how it ended."""

    ids: list[int]
    logprobs: list[TokenLogprob] | None
    finish_reason: str
    completion_tokens: int


class ChatCompletions:
    """Chat completions on LLaMA-Factory's HF ``engine`` (model, tokenizer, template, settings, semaphore)."""

    def __init__(self, engine: Any, model_name: str):
        self.engine = engine
        self.model_name = model_name
        self.tokenizer = engine.tokenizer
        self.texts = TokenTexts(engine.tokenizer)
        self.stop_ids = set(engine.template.get_stop_token_ids(engine.tokenizer))
        self.device = next(engine.model.parameters()).device

    # -- generation (on a worker thread) -------------------------------------------------------
    def _generate(self, request: ChatRequest, post: str, recorder: StepRecorder | None) -> tuple[list[list[int]], int]:
        """Every sequence's new token ids and the prompt's length; ``recorder`` sees each step."""
        import torch
        from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

        guard = current_guard.get()  # asyncio.to_thread carries the request's context
        if guard is not None:
            guard.check()
        engine = self.engine
        settings = {"do_sample": request.do_sample, "temperature": request.temperature, "top_p": request.top_p,
                    "num_return_sequences": request.n, "repetition_penalty": request.presence_penalty,
                    "max_new_tokens": max_new_tokens(request), "stop": request.stop}
        gen_kwargs, prompt_length = engine._process_args(
            engine.model, engine.tokenizer, engine.processor, engine.template, engine.generating_args,
            [{"role": "user", "content": post}], None, None, None, None, None, settings)
        processors = LogitsProcessorList()
        if recorder is not None and recorder.logprobs:
            processors.append(recorder)  # first: the logits as the model gave them
            config = gen_kwargs["generation_config"]
            penalty = config.repetition_penalty
            if penalty is not None and penalty != 1.0:  # else generate puts it before the recorder
                config.repetition_penalty = 1.0
                processors.append(RepetitionPenaltyLogitsProcessor(penalty))
        with torch.inference_mode(), training_autocast(self.device):
            out = engine.model.generate(**gen_kwargs, logits_processor=processors, streamer=recorder)
        return out[:, prompt_length:].tolist(), prompt_length

    def _answer(self, row: list[int], sequence: int, recorder: StepRecorder | None) -> Generated:
        """The generated ids ``row`` of sequence ``sequence``, cut at its first end-of-turn token."""
        end = next((i for i, token in enumerate(row) if token in self.stop_ids), None)
        ids = row if end is None else row[:end]
        logprobs = None
        if recorder is not None and recorder.logprobs:
            logprobs = [step[sequence] for _, step in recorder.steps[: len(ids)] if step is not None]
        return Generated(ids, logprobs, "length" if end is None else "stop", len(ids) + (end is not None))

    def _logprobs(self, logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
        return None if logprobs is None else {"content": [entry.as_openai(self.texts) for entry in logprobs]}

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -- answers ----------------------------------------------------------------------------
    async def complete(self, request: ChatRequest, post: str) -> dict[str, Any]:
        created = int(time.time())
        recorder = StepRecorder(True, request.top_logprobs or 0) if request.logprobs else None
        async with self.engine.semaphore:
            rows, prompt_length = await asyncio.to_thread(self._generate, request, post, recorder)
        answers = [self._answer(row, index, recorder) for index, row in enumerate(rows)]
        completion_tokens = sum(answer.completion_tokens for answer in answers)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": created,
            "model": self.model_name,
            "choices": [{"index": index, "message": {"role": "assistant", "content": self._decode(answer.ids)},
                         "logprobs": self._logprobs(answer.logprobs), "finish_reason": answer.finish_reason}
                        for index, answer in enumerate(answers)],
            "usage": {"prompt_tokens": prompt_length, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_length + completion_tokens},
        }

    async def stream(self, request: ChatRequest, post: str) -> AsyncIterator[str]:
        """The server-sent events of a streamed answer (one sequence: the pre-check refuses ``n`` > 1)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.model_name}
        usage = request.stream_options is not None and request.stream_options.include_usage

        def chunk(delta: dict[str, Any], logprobs: list[TokenLogprob] | None = None,
                  finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": self._logprobs(logprobs) if request.logprobs else None,
                      "finish_reason": finish_reason}
            return _event({**base, "choices": [choice], **({"usage": None} if usage else {})})

        def on_step(ids: list[int], logprobs: list[TokenLogprob] | None) -> None:  # on the generating thread
            loop.call_soon_threadsafe(events.put_nowait, (ids[0], logprobs[0] if logprobs else None))

        recorder = StepRecorder(bool(request.logprobs), request.top_logprobs or 0, on_step)
        async with self.engine.semaphore:
            task = asyncio.ensure_future(asyncio.to_thread(self._generate, request, post, recorder))
            task.add_done_callback(lambda _: events.put_nowait(_DONE))  # after every step's event
            try:
                yield chunk({"role": "assistant", "content": ""})
                ids: list[int] = []
                pending: list[TokenLogprob] = []
                sent, finish_reason = "", "length"
                while (event := await events.get()) is not _DONE:
                    token, logprob = event
                    if token in self.stop_ids:
                        finish_reason = "stop"
                        continue
                    ids.append(token)
                    pending += [logprob] if logprob is not None else []
                    text = self._decode(ids)
                    if text.endswith("\ufffd"):  # the token ends inside a character: wait for the rest
                        continue
                    if text[len(sent):] or pending:
                        yield chunk({"content": text[len(sent):]}, pending)
                    sent, pending = text, []
                _, prompt_length = await task  # a failed generation raises here
                if self._decode(ids) != sent or pending:
                    yield chunk({"content": self._decode(ids)[len(sent):]}, pending)
                yield chunk({}, finish_reason=finish_reason)
                if usage:
                    completion_tokens = len(ids) + (finish_reason == "stop")
                    yield _event({**base, "choices": [], "usage": {
                        "prompt_tokens": prompt_length, "completion_tokens": completion_tokens,
                        "total_tokens": prompt_length + completion_tokens}})
                yield "data: [DONE]\n\n"
            finally:
                if not task.done():  # the client left: the model is free once the generation ends
                    await asyncio.wait({task})


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def add_openai_routes(app: Any, completions: ChatCompletions, card: dict[str, Any]) -> None:
    """Put this module's routes in place of LLaMA-Factory's ``/v1/models`` and ``/v1/chat/completions``."""
    from fastapi.responses import JSONResponse, StreamingResponse

    app.router.routes[:] = [route for route in app.router.routes
                            if getattr(route, "path", None) not in (MODELS_PATH, CHAT_PATH)]

    @app.get(MODELS_PATH)
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [card]}

    @app.get(MODELS_PATH + "/{model:path}")
    async def retrieve_model(model: str) -> dict[str, Any]:
        if model != card["id"]:
            raise model_not_found(model, card["id"])
        return card

    request_log = logging.getLogger(REQUEST_LOG)

    @app.post(CHAT_PATH)
    async def chat_completions(body: ChatRequest):
        check_parameters(body, completions.model_name)  # the pre-check did; a request is never run unchecked
        if request_log.isEnabledFor(logging.INFO) and os.environ.get("API_VERBOSE", "1").lower() in ("true", "y", "1"):
            # as LLaMA-Factory logged a request (the post with it): only under --log-requests
            request_log.info("==== request ====\n%s", json.dumps(body.model_dump(exclude_unset=True), indent=2,
                                                                   ensure_ascii=False))
        post = post_text(body.messages[0])
        if body.stream:
            return StreamingResponse(completions.stream(body, post), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return JSONResponse(await completions.complete(body, post))
