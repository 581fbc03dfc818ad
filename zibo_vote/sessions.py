"""Django's database sessions, without the statements that only repeat what the table's primary
key already guarantees (issue 15).

Django's own db engine asks `SELECT 1 … WHERE session_key = %s` before every new key (the
INSERT that follows refuses a duplicate anyway, and create() then draws another key), and at
cycle_key() — verification, where a session gains its right — it INSERTs the new row at once
and UPDATEs it again when the response saves the session. Here a new key is INSERTed once, by
the save at the end of the request; the old row is deleted at the moment the key changes, as
Django does. Everything else (the table, the cookie, clearsessions, the purge's search of the
stored sessions) is Django's db engine unchanged: DJANGO_SESSION_ENGINE=db selects this one.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.utils.crypto import get_random_string


class SessionStore(db.SessionStore):
    def _get_new_session_key(self):
        # The INSERT with must_create is the check: a duplicate raises CreateError and
        # create() draws again (32 characters from 36: a duplicate is not to be expected).
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self):
        """A new key for the same data, written once, by the save at the end of the request;
        the old key's row goes now, so the old cookie opens nothing from this moment."""
        data = self._session
        key = self.session_key
        self._session_key = None  # save() then create()s: one INSERT under a new key
        self._session_cache = data
        self.modified = True
        if key:
            self.delete(key)

    def delete(self, session_key=None):
        # One DELETE, where Django's engine first SELECTs the row to delete it.
        session_key = session_key or self.session_key
        if session_key is not None:
            self.model.objects.filter(session_key=session_key).delete()
