"""dynahate.plugin: Dynahate data preparation, prompts, labels and LLaMA-Factory registration.

The other packages of the project (``dynahate.eval``, ``dynahate.publish``) build on the
single prompt builder, label normalizer and JSONL reader that live here.
"""

__version__ = "0.1.0"
