"""Run `warmstart train` but pause at a chosen point, so a test can SIGKILL the process there.

Usage: python pausing_run.py MARKER {step,checkpoint} STEP TRAIN-ARGS...

``step``: pause after optimiser step STEP (its checkpoint, if any, already written).
``checkpoint``: pause inside the write of checkpoint STEP, after the weights, optimiser and RNG files
and before trainer_state.json. MARKER is created when the pause starts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from warmstart.cli import main
from warmstart.train import checkpoint, trainer


def pause(marker: Path, where: str) -> None:
    marker.write_text(where, encoding="utf-8")
    time.sleep(600)


def install(marker: Path, mode: str, at: int) -> None:
    if mode == "step":
        after_step = trainer.Trainer._after_step

        def paused_after_step(self, step, *args):
            after_step(self, step, *args)
            if step == at:
                pause(marker, f"after step {step}")

        trainer.Trainer._after_step = paused_after_step
    else:
        write_state = checkpoint.write_training_state

        def paused_write(folder, state):
            if state["step"] == at:
                pause(marker, str(folder))
            write_state(folder, state)

        checkpoint.write_training_state = paused_write


if __name__ == "__main__":
    install(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
    main(sys.argv[4:])
