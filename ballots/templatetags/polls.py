"""What the pages of other apps may ask of the polls: whether an entry can be voted for now.

The entry pages belong to `reforms`, which knows nothing of polls; their template asks here.
"""

from django import template

from ballots.models import Poll

register = template.Library()


@register.simple_tag
def open_poll_offering(reform):
    """The poll open now that offers `reform`, or None."""
    poll = Poll.objects.open().order_by("-opens_at").first()
    if poll is None or not poll.reforms.filter(pk=reform.pk).exists():
        return None
    return poll
