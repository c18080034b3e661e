"""Helpers shared by the workflows (``workflow/Snakefile``, ``workflow/models.smk``): samples as part files."""


def check_part_events(value):
    """``value`` (the config's ``part_events``; ``None``: one part) as a whole number of generator blocks (200)."""
    if value is not None and (int(value) <= 0 or int(value) % 200):
        raise ValueError(f"part_events must be a positive multiple of 200, got {value}")
    return None if value is None else int(value)


def part_ranges(n, step):
    """``(first event, events)`` of each part file of an ``n``-event sample in parts of ``step`` events
    (``flashsim generate --first-event``: the parts hold exactly the events of one file of the same seed)."""
    return [(first, min(step, n - first)) for first in range(0, n, step)]
