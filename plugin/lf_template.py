"""The ``dynahate`` chat template, registered with LLaMA-Factory's own ``register_template``.

It is LLaMA-Factory's ``llama3`` template with the Dynahate prompts built in: the system prompt
is the default system, and the instruction plus a newline precede the user's message. A chat
client then sends only the post and the adapter sees exactly its training prompt (a test checks
token ids against the ``llama3`` template on full records). Its Jinja form replaces the
tokenizer's chat template when LLaMA-Factory saves or exports with ``template: dynahate``.

Registration happens on import of this module or by :func:`register_dynahate_template`; it is
idempotent. :func:`dynahate_chat_template` gives that Jinja form for a tokenizer (``publish`` stages it
as ``chat_template.jinja``, so ``apply_chat_template`` on the post alone gives the training prompt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from dynahate.plugin import prompts

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizer, PreTrainedTokenizerBase

TEMPLATE_NAME = "dynahate"
BASE_TEMPLATE = "llama3"


def register_dynahate_template() -> str:
    """Register the template with LLaMA-Factory (once per process); return its name."""
    from llamafactory.data.formatter import StringFormatter
    from llamafactory.data.template import TEMPLATES, register_template

    if TEMPLATE_NAME in TEMPLATES:
        return TEMPLATE_NAME
    base = TEMPLATES[BASE_TEMPLATE]
    (slot,) = base.format_user.slots  # "<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|>..."
    user_slot = cast(str, slot)  # a slot may also be a set or dict of special tokens; llama3's user slot is text
    if "{{content}}" not in user_slot:
        raise RuntimeError(f"LLaMA-Factory's {BASE_TEMPLATE!r} user slot has no {{{{content}}}}: {user_slot!r}")
    dynahate_user = StringFormatter(slots=[user_slot.replace("{{content}}", prompts.user_message("{{content}}"), 1)])
    register_template(
        name=TEMPLATE_NAME,
        format_user=dynahate_user,
        format_assistant=base.format_assistant,
        format_system=base.format_system,
        format_function=base.format_function,
        format_observation=base.format_observation,
        format_tools=base.format_tools,
        format_prefix=base.format_prefix,
        default_system=prompts.SYSTEM_PROMPT,
        stop_words=list(base.stop_words),
        efficient_eos=base.efficient_eos,
        replace_eos=base.replace_eos,
        replace_jinja_template=True,
    )
    return TEMPLATE_NAME


def dynahate_chat_template(tokenizer: PreTrainedTokenizerBase) -> str:
    """The ``dynahate`` template's Jinja chat template, as LLaMA-Factory writes it into a tokenizer
    (``Template.fix_jinja_template``; the tokenizer gives the begin-of-text token); ``tokenizer`` is left as it was."""
    from llamafactory.data.template import TEMPLATES

    register_dynahate_template()
    kept = tokenizer.chat_template
    try:
        tokenizer.chat_template = None
        TEMPLATES[TEMPLATE_NAME].fix_jinja_template(cast("PreTrainedTokenizer", tokenizer))  # any tokenizer works
        template = tokenizer.chat_template
    finally:
        tokenizer.chat_template = kept
    if not isinstance(template, str) or not template:
        raise RuntimeError(f"LLaMA-Factory gave no Jinja chat template for the {TEMPLATE_NAME!r} template")
    return template
