"""dynahate.plugin: the Dynahate task as LLaMA-Factory sees it: prompts, labels, template, registration.

The LLaMA-Factory side (chat template, ``dataset_info.json`` entries, registration, a workspace),
the one prompt builder, label normalizer and post rule, the offline Llama 3.1 tokenizer and the
tiny model; data preparation is :mod:`dynahate.plugin.data`. It imports only ``dynahate.core``.
"""
