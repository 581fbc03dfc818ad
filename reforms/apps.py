from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class ReformsConfig(AppConfig):
    name = "reforms"
    verbose_name = _("改革创新经验")

    def ready(self):
        from zibo_vote.page_cache import invalidate_on_commit

        from .models import Reform

        # Every change staff make to an entry (a form, an action, a restore from history).
        post_save.connect(invalidate_on_commit, sender=Reform, dispatch_uid="pages-reform")
        post_delete.connect(invalidate_on_commit, sender=Reform, dispatch_uid="pages-reform-del")
