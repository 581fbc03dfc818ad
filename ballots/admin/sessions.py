"""Staff sessions: the only people who log in are the office's staff."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in)
def end_staff_sessions_with_the_browser(sender, request, user, **kwargs):
    # Only staff log in. Their session ends when the browser closes, and at the latest after
    # SESSION_COOKIE_AGE (a working day): an office computer left on does not stay signed in.
    request.session.set_expiry(0)
