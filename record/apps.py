from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordConfig(AppConfig):
    name = "record"
    verbose_name = _("公开记录")

    def ready(self):
        from ballots import signals as ballots_signals
        from zibo_vote.page_cache import invalidate_on_commit

        from . import checks, receivers  # noqa: F401 - checks registers the deploy check
        from .models import Log
        from .publish import checkpoint_published

        # The close and the certification reach the record through ballots' signals, sent once
        # committed: ballots never imports record.
        ballots_signals.poll_closed.connect(
            receivers.checkpoint_at_close, dispatch_uid="record-close"
        )
        ballots_signals.poll_certified.connect(
            receivers.checkpoint_and_package_at_certification, dispatch_uid="record-certify"
        )
        # /record/ shows the checkpoints: a new one makes the cached pages stale.
        checkpoint_published.connect(
            invalidate_on_commit, sender=Log, dispatch_uid="pages-checkpoint"
        )
