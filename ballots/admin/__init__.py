"""The reform office's admin, one module per concern; importing this package registers them."""

from . import ballots, entries, polls, sessions  # noqa: F401
