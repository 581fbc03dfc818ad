"""Django's database sessions, without the statements that only repeat what the table's primary
key already guarantees, and without the ORM's compiling of the same four statements on every
request (issue 15).

Django's own db engine asks `SELECT 1 … WHERE session_key = %s` before every new key (the
INSERT that follows refuses a duplicate anyway, and create() then draws another key), wraps
every write in atomic() (BEGIN and COMMIT, or a SAVEPOINT and its RELEASE, around one
statement), and at cycle_key() — verification, where a session gains its right — INSERTs the new
row at once (after its SELECT 1), SELECTs and DELETEs the old one, and UPDATEs the new one again
when the response saves the session. Here
each read and write is one statement, written out once below: the ORM spent more CPU compiling
them than the database spent answering (a read: 0.96 → 0.28 ms, `bench/session_store.py`),
nine times a flow. A new key is INSERTed once, by the save at the end of the request, with ON
CONFLICT DO NOTHING, so a taken key is a row count of 0 (create() draws again) and never an
error that would abort the transaction it is in. A changed key is one UPDATE of the old row,
key and data together, by that same save; until then the old key holds only what it held
before, never the right the request is granting, and a session ended meanwhile (its row gone:
结束验证 in another tab, the purge) stays ended (UpdateError: Django's middleware answers
400). A session emptied after its key changed is not saved, as Django saves no empty session;
its old row then waits for its expiry and clearsessions. Everything else (the table, the model, the
cookie, the encoding, clearsessions, the purge's search of the stored sessions) is Django's db
engine unchanged: DJANGO_SESSION_ENGINE=db selects this one. The async methods (aload, asave)
are still Django's: the site is served by WSGI and nothing calls them. The statements are
PostgreSQL's and SQLite's, the two databases the site runs on.
"""

from datetime import datetime
from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import DatabaseError, connections, router
from django.utils import timezone

from .tokens import random_string


@cache
def _statements(alias):
    """The four statements on Django's own session table, quoted for this database."""
    from django.contrib.sessions.models import Session

    quote = connections[alias].ops.quote_name
    table = quote(Session._meta.db_table)
    key, data, expires = (
        quote(Session._meta.get_field(name).column)
        for name in ("session_key", "session_data", "expire_date")
    )
    # Only the model's own table and column names, quoted, are put into the text; every value
    # is a parameter.
    return {
        "load": f"SELECT {data} FROM {table} WHERE {key} = %s AND {expires} > %s",  # noqa: S608
        # PostgreSQL and SQLite (3.24 and later) both know ON CONFLICT … DO NOTHING.
        "insert": f"INSERT INTO {table} ({key}, {data}, {expires}) VALUES (%s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING",
        "update": f"UPDATE {table} SET {data} = %s, {expires} = %s WHERE {key} = %s",  # noqa: S608
        "delete": f"DELETE FROM {table} WHERE {key} = %s",  # noqa: S608
        "exists": f"SELECT 1 FROM {table} WHERE {key} = %s",  # noqa: S608
        # A new key taken already by a committed row (once in 36**32 draws) changes no row
        # rather than raising an error that would abort the transaction: create() then draws
        # again. (Taken by a concurrent INSERT not yet committed, it is still the table's
        # unique-key error, at the same odds.)
        "rekey": f"UPDATE {table} SET {key} = %s, {data} = %s, {expires} = %s "  # noqa: S608
        f"WHERE {key} = %s AND NOT EXISTS (SELECT 1 FROM {table} WHERE {key} = %s)",
    }


class SessionStore(db.SessionStore):
    _replaces = None  # the key cycle_key() changed, whose row the next save moves to the new one

    def _execute(self, name, *params):
        """Runs one of the statements: the row it read (load, exists), or how many rows it
        changed."""
        alias = (router.db_for_read if name == "load" else router.db_for_write)(self.model)
        connection = connections[alias]
        # Times as the ORM stores a DateTimeField on this database (SQLite: naive UTC text).
        adapt = connection.ops.adapt_datetimefield_value
        params = [adapt(value) if isinstance(value, datetime) else value for value in params]
        with connection.cursor() as cursor:
            cursor.execute(_statements(alias)[name], params)
            return cursor.fetchone() if name in ("load", "exists") else cursor.rowcount

    def load(self):
        row = self._execute("load", self.session_key, timezone.now())
        if row is None:  # none, or expired: the next save draws a new key, as Django's does
            self._session_key = None
            return {}
        return self.decode(row[0])

    def save(self, must_create=False):
        if self.session_key is None:
            return self.create()
        data = self.encode(self._get_session(no_load=must_create))
        expires = self.get_expiry_date()
        if must_create:
            key = self.session_key
            if self._replaces:
                if self._execute("rekey", key, data, expires, self._replaces, key):
                    self._replaces = None
                    return
                if self._execute("exists", self._replaces) is None:
                    # Ended meanwhile (结束验证 in another tab, the purge): it must not come
                    # back under a new key with the right this request was granting.
                    self._replaces = None
                    raise UpdateError
                raise CreateError  # the new key is taken: create() draws another
            if not self._execute("insert", key, data, expires):
                raise CreateError  # the key is taken: create() draws another
            return
        try:
            updated = self._execute("update", data, expires, self.session_key)
        except DatabaseError as error:
            raise UpdateError from error  # as Django's engine: a 400, the session not saved
        if not updated:
            # The row has gone (logged out elsewhere, the purge): Django's engine raises the
            # same, and the session middleware answers it without writing the session again.
            raise UpdateError

    def _get_new_session_key(self):
        # The INSERT with must_create is the check: a taken key inserts nothing and create()
        # draws again (32 characters from 36: a duplicate is not to be expected).
        return random_string(32, VALID_KEY_CHARS)

    def cycle_key(self):
        """A new key for the same data, written once, by the save at the end of the request:
        the old key's row becomes the new key's in one UPDATE. Until then the old key holds
        what it held before this request; from then on the old cookie opens nothing."""
        data = self._session
        self._replaces = self.session_key or self._replaces
        self._session_key = None  # save() then create()s under a new key
        self._session_cache = data
        self.modified = True

    def delete(self, session_key=None):
        # One DELETE, where Django's engine first SELECTs the row to delete it. A session
        # ended after its key changed (flush) takes the old key's row with it.
        if session_key is None:
            session_key, self._replaces = self.session_key or self._replaces, None
        if session_key is not None:
            self._execute("delete", session_key)
