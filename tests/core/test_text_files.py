"""CSV reading errors are the project's own one-line messages, naming the file and line."""

from __future__ import annotations

import csv

import pytest

from dynahate.core.errors import DynahateError
from dynahate.core.text_files import csv_records


def test_a_field_over_the_csv_limit_is_named_by_line_not_by_pythons_message(tmp_path):
    limit = csv.field_size_limit()
    path = tmp_path / "big.csv"
    path.write_text("id,text\n1,short\n2," + "x" * (limit + 1) + "\n", encoding="utf-8")
    with pytest.raises(DynahateError) as refused:
        list(csv_records(path))
    message = str(refused.value)
    assert message.startswith(f"{path}: line 3: a field is longer than {limit:,} characters")
    assert "field larger than field limit" not in message and "\n" not in message
