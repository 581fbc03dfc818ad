from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.utils.translation import gettext_lazy as _


class BallotsConfig(AppConfig):
    name = "ballots"
    verbose_name = _("投票")

    def ready(self):
        from reforms.models import Reform
        from zibo_vote.page_cache import invalidate_on_commit

        from . import signals
        from .models import Poll, refuse_deleting_frozen_entry

        # What the public pages show of polls, whichever way it changes: a save (the admin's
        # form, Poll.close()), its entries, a voiding, counts set from a recount,
        # the purge of personal data (/privacy/ gives its date).
        post_save.connect(invalidate_on_commit, sender=Poll, dispatch_uid="pages-poll")
        post_delete.connect(invalidate_on_commit, sender=Poll, dispatch_uid="pages-poll-delete")
        m2m_changed.connect(
            invalidate_on_commit, sender=Poll.reforms.through, dispatch_uid="pages-poll-reforms"
        )
        signals.ballots_voided.connect(invalidate_on_commit, dispatch_uid="pages-voided")
        signals.counts_reset.connect(invalidate_on_commit, dispatch_uid="pages-counts-reset")
        signals.personal_data_purged.connect(invalidate_on_commit, dispatch_uid="pages-purged")
        # An open (or ended) poll's entries are frozen: none is deleted, by any path.
        pre_delete.connect(
            refuse_deleting_frozen_entry, sender=Reform, dispatch_uid="frozen-entries"
        )
