"""What ballots tells the rest of the site. Sent once the change is committed, never before.

Changes made with queryset updates send no post_save, so ballots sends these instead.
"""

from django.dispatch import Signal

# Ballots left the tally (BallotQuerySet.void): sender=Poll, poll=, ballot_ids=[…], voiding=.
ballots_voided = Signal()

# Voting ended by staff's close (Poll.close): sender=Poll, poll=. A scheduled closing time
# passing sends nothing; the record's hourly checkpoint notices it.
poll_closed = Signal()

# The result was certified, 确认最终结果 (Poll.certify): sender=Poll, poll=.
poll_certified = Signal()

# A poll's running counts were set from a recount (Poll.reset_counts): sender=Poll, poll=.
counts_reset = Signal()

# A poll's personal data was purged (Poll.purge_personal_data): sender=Poll, poll=. /privacy/
# says when.
personal_data_purged = Signal()
