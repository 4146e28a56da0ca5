"""Whether each split of ``eval_results.json`` was computed on this run's adapter.

``dynahate eval --adapter`` records per split the SHA-256 of the ``adapter_model.safetensors`` it
loaded and the base model; a split scored from a LLaMA-Factory predictions file records none. A
split is verified when its SHA-256 equals the run's and its base model is the adapter's. Unverified
splits are refused, naming them, unless ``--force``; the card then says which and why.
"""

from __future__ import annotations

from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.publish.run_record import RunRecord


def unverified_splits(record: RunRecord, run_sha256: str) -> dict[str, str]:
    """Split -> why its results cannot be tied to this run's adapter (verified splits are left out)."""
    reasons = {}
    for split, results in (record.eval_results or {}).items():
        adapter: Any = results.get("adapter")
        if not isinstance(adapter, dict) or not adapter.get("sha256"):
            reasons[split] = "scored from a predictions file, which does not say which adapter wrote it"
        elif adapter["sha256"] != run_sha256:
            reasons[split] = (f"computed on another adapter (adapter_model.safetensors SHA-256 "
                              f"{str(adapter['sha256'])[:12]}..., this run's is {run_sha256[:12]}...)")
        elif adapter.get("base_model") != record.base_model:
            reasons[split] = (f"computed on base model {adapter.get('base_model')!r}, "
                              f"not the adapter's {record.base_model!r}")
    return reasons


def check_provenance(record: RunRecord, run_sha256: str, force: bool) -> dict[str, str]:
    """The unverified splits (allowed only with ``force``); an error naming them otherwise."""
    reasons = unverified_splits(record, run_sha256)
    if reasons and not force:
        listed = "; ".join(f"{split}: {why}" for split, why in reasons.items())
        raise DynahateError(f"{record.eval_dir / 'eval_results.json'}: results not verified to be this run's adapter "
                            f"({listed}); re-run `dynahate eval --adapter {record.run_dir}`, or pass --force to "
                            "publish them with the card saying so")
    return reasons
