"""TensorBoard event files: dropping what a killed run logged after its last checkpoint.

A run killed between two checkpoints has logged scalars past the step it resumes from; left in
place, its curves would repeat those steps. `truncate_events` rewrites each event file without
the records past the resumed step, so every curve's steps keep increasing.
"""

from __future__ import annotations

from pathlib import Path


def _events(path: Path) -> list:  # type: ignore[type-arg]
    """The file's events as written (the raw loader: the other one rewrites scalars as
    tensors, which would move them out of TensorBoard's scalar dashboard)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    return [event_pb2.Event.FromString(raw) for raw in RawEventFileLoader(str(path)).Load()]


def truncate_events(tb: Path, max_step: int) -> int:
    """Removes every event with ``step > max_step`` from the event files under ``tb``.

    Each changed file is rewritten beside the old one, then the old one is deleted. Returns the
    number of events removed.
    """
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    removed = 0
    for path in sorted(tb.rglob("events.out.tfevents.*")):
        events = _events(path)
        keep = [e for e in events if e.step <= max_step or e.HasField("file_version")]
        if len(keep) == len(events):
            continue
        removed += len(events) - len(keep)
        if all(e.HasField("file_version") for e in keep):
            path.unlink()
            continue
        writer = EventFileWriter(str(path.parent), filename_suffix=".resumed")
        for e in keep:
            if not e.HasField("file_version"):  # the new file writes its own header
                writer.add_event(e)
        writer.close()
        path.unlink()
    return removed
