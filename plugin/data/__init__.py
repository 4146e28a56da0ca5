"""dynahate.plugin.data: the official Dynahate CSV to LLaMA-Factory JSONL (``dynahate prepare``).

Download and verification, the strict CSV reader, the leakage audit, prompt lengths in tokens,
and the prepare command itself.
"""
