"""Prompt formats (docs/definitions.md#prompt-formats) against the tokenizer's own chat template and the App. D template file."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.prompts.formatting import FormatError, end_of_turn_id

from .conftest import SHARED_DOCS

TEMPLATES = json.loads((SHARED_DOCS / "prompt_templates.json").read_text())

GEMMA_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


def test_chat_context_is_the_generation_prompt(tokenizer):
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert format_context(tokenizer, "Why is the sky blue?") == expected
    assert "You are a helpful AI assistant named SmolLM" in expected  # template default system prompt


def test_chat_context_with_system_message(tokenizer):
    got = format_context(tokenizer, "Q?", system="Be brief.")
    assert got == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"


def test_template_format_follows_appendix_d(tokenizer):
    user = TEMPLATES["endorm"]["user"].format(query="Q?", response="")
    got = format_context(tokenizer, "Q?", system="Be brief.", prompt_format="template")
    assert got == f"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n{user}"


def test_template_format_without_chat_template(tokenizer):
    plain = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = None
    assert format_context(plain, "Q?", "Sys", "template") == "Sys\n\n### Query\nQ?\n### Response\n"
    assert format_context(plain, "Q?", None, "template") == "### Query\nQ?\n### Response\n"
    with pytest.raises(FormatError, match="no chat template"):
        format_context(plain, "Q?")
    assert end_of_turn_id(plain) == plain.eos_token_id


def test_unknown_prompt_format(tokenizer):
    with pytest.raises(FormatError, match="unknown prompt_format 'xml'"):
        format_context(tokenizer, "Q?", prompt_format="xml")


def test_end_of_turn_is_im_end_for_chatml(tokenizer):
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == "<|im_end|>"


def test_end_of_turn_is_the_special_token_not_the_newline(tokenizer):
    gemma_like = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    gemma_like.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    gemma_like.chat_template = GEMMA_STYLE_TEMPLATE
    assert gemma_like.convert_ids_to_tokens(end_of_turn_id(gemma_like)) == "<end_of_turn>"
