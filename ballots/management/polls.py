from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ballots.models import Poll


def poll_named(slug):
    """The poll a command's SLUG or --poll names; else a CommandError that lists the known ones."""
    try:
        return Poll.objects.get(slug=slug)
    except Poll.DoesNotExist:
        known = ", ".join(Poll.objects.values_list("slug", flat=True)) or _("无")
        raise CommandError(
            _("没有英文标识为“%(slug)s”的投票活动（现有：%(known)s）。")
            % {"slug": slug, "known": known}
        ) from None
