"""What the record does when ballots tells it that a poll closed or was certified.

Both run after the change is committed, in the request or command that made it. A failure here
(no signing key, the database gone) is logged and does not undo the close or the certification:
the hourly `publish_checkpoint` appends what is missing and builds a missing package.
"""

import logging

from .closing import store_closing_package
from .publish import publish_checkpoint

logger = logging.getLogger(__name__)


def checkpoint_at_close(sender, poll, **kwargs):
    try:
        publish_checkpoint(poll)
    except Exception:
        logger.exception("No checkpoint at the close of %s; the hourly one will add it", poll.slug)


def checkpoint_and_package_at_certification(sender, poll, **kwargs):
    try:
        publish_checkpoint(poll)
        store_closing_package(poll)
    except Exception:
        logger.exception(
            "The certification of %s is not yet in the record (checkpoint or package); the "
            "hourly publish_checkpoint will add it",
            poll.slug,
        )
