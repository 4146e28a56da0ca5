"""The mode table (dynahate.inference.modes): one ``predict`` per engine, ``--mode`` choices from the table."""

import pytest

from dynahate.core.cli import build_parser
from dynahate.inference.engine import EngineOptions, EnginePrediction
from dynahate.inference.modes import ENGINES, build_engine
from dynahate.plugin.labels import LABELS


@pytest.fixture(scope="module")
def posts(dev_posts):
    return dev_posts[:10]


def test_mode_choices_and_help_come_from_the_table():
    parser = build_parser()
    args = parser.parse_args(["eval", "--adapter", "run"])
    assert args.mode == "score"
    for name in ENGINES:
        assert parser.parse_args(["eval", "--adapter", "run", "--mode", name]).mode == name
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--adapter", "run", "--mode", "vllm"])


def test_unknown_mode_is_refused_by_name(loaded):
    with pytest.raises(ValueError, match="mode must be one of"):
        build_engine("vllm", loaded.model, loaded.tokenizer)


@pytest.mark.parametrize("mode", sorted(ENGINES))
def test_every_engine_predicts_one_record_per_post_in_order(loaded, posts, mode):
    engine = build_engine(mode, loaded.model, loaded.tokenizer, EngineOptions(token_budget=128, batch_size=3,
                                                                             progress=False))
    outputs = engine.predict(posts)
    assert len(outputs) == len(posts) and all(isinstance(o, EnginePrediction) for o in outputs)
    assert all(o.pred in (*LABELS, None) for o in outputs)
    # input order: the same posts reversed give the same records reversed
    for again, output in zip(engine.predict(posts[::-1])[::-1], outputs, strict=False):
        assert again.pred == output.pred and again.raw == output.raw
        assert (again.p_hate is None) == (output.p_hate is None)
        assert again.p_hate is None or abs(again.p_hate - output.p_hate) < 1e-6


def test_score_engine_gives_p_hate_generate_gives_the_raw_text(loaded, posts):
    scored = build_engine("score", loaded.model, loaded.tokenizer, EngineOptions(progress=False)).predict(posts)
    assert all(o.raw is None and 0.0 <= o.p_hate <= 1.0 for o in scored)
    assert all((o.p_hate >= 0.5) == (o.pred == "hate") for o in scored)
    generated = build_engine("generate", loaded.model, loaded.tokenizer, EngineOptions(progress=False)).predict(posts)
    assert all(o.p_hate is None and isinstance(o.raw, str) for o in generated)


def test_options_reach_the_engines(loaded):
    score = build_engine("score", loaded.model, loaded.tokenizer, EngineOptions(token_budget=777))
    generate = build_engine("generate", loaded.model, loaded.tokenizer, EngineOptions(batch_size=5, cutoff_len=99))
    assert score.token_budget == 777
    assert (generate.batch_size, generate.cutoff_len) == (5, 99)


@pytest.fixture(scope="module")
def tiny_loaded(tiny_model):
    """The tiny model and its tokenizer, untrained: enough to build an engine, loaded once for the module."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize("mode", sorted(ENGINES))
def test_every_engine_has_the_whole_interface(tiny_loaded, mode):
    """Every engine the table builds has each member of the Engine protocol, ``budget_lowered`` included (None
    until an out-of-memory batch lowers the score engine's budget), so eval and predict read it plainly."""
    from dynahate.inference.engine import Engine

    model, tokenizer = tiny_loaded
    engine = build_engine(mode, model, tokenizer, EngineOptions(progress=False))
    assert isinstance(engine, Engine)
    assert engine.budget_lowered is None
