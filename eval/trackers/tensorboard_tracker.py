"""TensorBoard: the evaluation lands in the training's logging directory.

That directory is ``TENSORBOARD_LOGGING_DIR`` when set (as transformers' ``TensorBoardCallback`` reads it), else the
run folder's ``runs/<stamp>`` written last (the callback's default, ``<output_dir>/runs/<date>_<host>``). None
found: one line, and a new one, ``<output folder>/runs/<adapter>``. A new event file is written there (TensorBoard
reads every event file of a directory as one run): each figure a scalar at the training's last step, stored as a
64-bit float (``add_scalar(..., new_style=True, double_precision=True)``: the value read back is the one in
``eval_results.json``), the plots as images, and the tags and the files' paths as text (TensorBoard stores no
files; they stay in the evaluation folder).
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dynahate.core.errors import DynahateError
from dynahate.eval.trackers.base import TrackerSpec, Where
from dynahate.eval.trackers.names import Payload, artifact_files, segment

SPEC = TrackerSpec("tensorboard", "tensorboard", "tensorboard", "TensorBoard", stores_files=False)
ENV = "TENSORBOARD_LOGGING_DIR"
TAGS_TEXT = "dynahate/tags"
FILES_TEXT = "dynahate/files"


@dataclass
class TensorBoardDestination:
    log_dir: Path
    found: bool

    @property
    def description(self) -> str:
        return f"the training's TensorBoard directory {self.log_dir}" if self.found else \
            f"a new TensorBoard directory {self.log_dir}"

    def log(self, payload: Payload) -> None:
        import numpy as np
        from PIL import Image
        from torch.utils.tensorboard import SummaryWriter

        files = artifact_files(payload)
        try:
            writer = SummaryWriter(log_dir=str(self.log_dir))
        except OSError as exc:
            raise DynahateError(f"TensorBoard: cannot write to {self.log_dir}: {exc.strerror}") from None
        try:
            for name, value in payload.metrics.items():
                writer.add_scalar(name, float(value), payload.step, new_style=True, double_precision=True)
            for name, path in payload.images.items():
                with Image.open(io.BytesIO(path.read_bytes())) as image:
                    pixels = np.asarray(image.convert("RGB"))
                writer.add_image(name, pixels, payload.step, dataformats="HWC")
            table = "\n".join(f"| {name} | {value} |" for name, value in payload.tags.items())
            writer.add_text(TAGS_TEXT, "| tag | value |\n| --- | --- |\n" + table, payload.step)
            writer.add_text(FILES_TEXT, "\n".join(f"- {path}" for path in files), payload.step)
        finally:
            writer.close()


def locate(where: Where) -> TensorBoardDestination:
    configured = os.environ.get(ENV)
    if configured:
        return TensorBoardDestination(Path(configured).expanduser(), True)
    found = where.run.tensorboard_dirs()
    if found:
        return TensorBoardDestination(found[-1], True)
    log_dir = where.out_dir / "runs" / segment(where.adapter_name)
    folder = where.run.folder
    print(f"TensorBoard: no logging directory of this training found ({ENV} unset, no event file under "
          f"{folder / 'runs' if folder else 'a run folder'}): logging to {log_dir}", file=sys.stderr)
    return TensorBoardDestination(log_dir, False)
