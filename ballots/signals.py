"""What ballots tells the rest of the site. Sent once the change is committed, never before.

Changes made with queryset updates send no post_save, so ballots sends these instead.
"""

from django.dispatch import Signal

# Ballots left the tally (BallotQuerySet.void): sender=Poll, poll=, ballot_ids=[…].
ballots_voided = Signal()

# A poll's running counts were set from a recount (Poll.reset_counts): sender=Poll, poll=.
counts_reset = Signal()
