"""``bias``: per target group, the AUCs of Borkan et al. 2019 ("Nuanced Metrics for Measuring
Unintended Bias with Real Data for Text Classification").

For a group g, with ``hate`` the positive class and ``p_hate`` the score:

- ``subgroup_auc``: the AUC on the posts of g (does the model separate hate from not hate there?);
- ``bpsn_auc`` (background positive, subgroup negative): on g's not-hate posts and the other groups'
  hate posts; low when g's harmless posts score like hate (a model that reacts to the group's name);
- ``bnsp_auc`` (background negative, subgroup positive): on g's hate posts and the others' not-hate
  posts; low when hate against g scores like harmless posts.

An AUC is null when either class has fewer than ``min_examples`` posts in the set it is computed
on. ``generalized_mean`` combines each AUC over the groups where it is not null with a generalized
mean of power ``power`` (-5: the weakest group dominates), null when none is. A Dynahate post's
groups are its ``target`` split on commas, without ``none`` and ``notgiven``; a not-hate post
without one takes the target of the row its ``acl.id.matched`` names (how Dynahate provides
non-hateful posts that name a group). HateCheck's group is ``target_ident``. The entry::

    {"min_examples": 10, "power": -5, "groups": {g: {"size", "subgroup_auc", "bpsn_auc", "bnsp_auc"}},
     "generalized_mean": {"subgroup_auc", "bpsn_auc", "bnsp_auc"}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dynahate.eval.bootstrap import roc_auc
from dynahate.plugin.eval_record import AUC_KEYS, Bias

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_MIN_EXAMPLES = 10
POWER = -5
NO_TARGET = frozenset({"none", "notgiven", ""})
AUCS = AUC_KEYS


def target_groups(target: str | None) -> set[str]:
    """The groups a Dynahate ``target`` value names: ``"bla, wom"`` -> {bla, wom}; none/notgiven -> {}."""
    return {code.strip() for code in (target or "").split(",")} - NO_TARGET


def dynahate_groups(metas: Sequence[dict[str, Any] | None], gold_hate: Sequence[bool],
                    targets_by_id: dict[str, str | None]) -> list[set[str]]:
    """Each post's groups; a not-hate post without any takes those of the row it is matched to
    (``targets_by_id``: ``acl.id`` -> ``target`` of every row at hand, other splits' too)."""
    groups: list[set[str]] = []
    for meta, hate in zip(metas, gold_hate, strict=True):
        meta = meta or {}
        own = target_groups(meta.get("target"))
        if not own and not hate and meta.get("acl.id.matched") is not None:
            own = target_groups(targets_by_id.get(meta["acl.id.matched"]))
        groups.append(own)
    return groups


def auc_sets(hate: NDArray[np.bool_], member: NDArray[np.bool_]) -> dict[str, NDArray[np.bool_]]:
    """The posts each AUC of a group is computed on (boolean masks), from each post's class and membership."""
    return {"subgroup_auc": member, "bpsn_auc": (member & ~hate) | (~member & hate),
            "bnsp_auc": (member & hate) | (~member & ~hate)}


def enough_examples(hate: NDArray[np.bool_], mask: NDArray[np.bool_], min_examples: int) -> bool:
    """Whether both classes have at least ``min_examples`` posts in ``mask``."""
    positives = int(hate[mask].sum())
    return positives >= min_examples and int(mask.sum()) - positives >= min_examples


def _auc(y: NDArray[np.bool_], p: NDArray[np.float64], mask: NDArray[np.bool_], min_examples: int) -> float | None:
    return roc_auc(y[mask], p[mask]) if enough_examples(y, mask, min_examples) else None


def generalized_mean(values: Sequence[float], power: float = POWER) -> float | None:
    """(mean of v^power)^(1/power); 0 when a value is 0; None for no values."""
    import numpy as np

    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    if (array == 0).any():
        return 0.0
    return float(np.mean(array ** power) ** (1 / power))


def bias(gold_hate: Sequence[bool], p_hate: Sequence[float], groups: Sequence[set[str]], *,
         min_examples: int = DEFAULT_MIN_EXAMPLES, power: float = POWER) -> Bias:
    """The ``bias`` entry."""
    import numpy as np

    y = np.asarray(gold_hate, dtype=bool)
    p = np.asarray(p_hate, dtype=np.float64)
    per_group: dict[str, Any] = {}
    for name in sorted(set[str]().union(*groups)) if groups else []:
        member = np.fromiter((name in g for g in groups), dtype=bool, count=len(groups))
        per_group[name] = {"size": int(member.sum()),
                           **{key: _auc(y, p, mask, min_examples) for key, mask in auc_sets(y, member).items()}}
    means = {key: generalized_mean([g[key] for g in per_group.values() if g[key] is not None], power)
             for key in AUCS}
    return {"min_examples": min_examples, "power": power, "groups": per_group, "generalized_mean": means}
