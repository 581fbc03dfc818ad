from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class ZiboVoteConfig(AppConfig):
    """The project package as an app: project-wide commands, and the public page cache."""

    name = "zibo_vote"
    verbose_name = "zibo-vote"

    def ready(self):
        from ballots.models import Poll
        from reforms.models import Reform

        from . import page_cache

        # Every save staff can make to what the public pages show, whichever way it is made
        # (a form, an action, a restore from history, Poll.close()).
        receiver = page_cache.invalidate_on_commit
        for model in (Reform, Poll):
            post_save.connect(receiver, sender=model, dispatch_uid=f"pages-{model}")
            post_delete.connect(receiver, sender=model, dispatch_uid=f"pages-del-{model}")
        m2m_changed.connect(
            receiver, sender=Poll.reforms.through, dispatch_uid="pages-poll-reforms"
        )
