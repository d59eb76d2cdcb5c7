"""The one error type of ml/: callers (CLI, worker, portal) turn it into a readable message."""


class MLError(Exception):
    """A problem the user can act on: bad input file, unreadable checkpoint, bad config."""


class ImageRejected(MLError):
    """An input that is not an image we accept (wrong type, truncated, too large, a bomb)."""


class TrainingCancelled(MLError):
    """Training stopped because the caller's ``should_stop`` hook asked it to. The run folder
    keeps ``last.pt`` from the last finished epoch, so ``resume=True`` continues from there."""
