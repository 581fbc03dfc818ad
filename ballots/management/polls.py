from django.core.management.base import CommandError

from ballots.models import Poll


def poll_named(slug):
    """The poll a command's SLUG or --poll names; else a CommandError that lists the known ones."""
    try:
        return Poll.objects.get(slug=slug)
    except Poll.DoesNotExist:
        known = ", ".join(Poll.objects.values_list("slug", flat=True)) or "none"
        raise CommandError(f"No poll with slug {slug!r} (known: {known}).") from None
