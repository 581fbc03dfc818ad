"""Queries on a citizen's path, compiled by the ORM once and run again with other values.

Django compiles a QuerySet's SQL anew every time it runs: for the short reads of a citizen's
flow the compiling costs more CPU than the database spends answering (docs/benchmark.md, "Flow
CPU"). A `Prepared` query is built once per database from placeholder values, the ORM writes
its SQL, and each run puts the real values where the placeholders were. The ORM still writes
every statement, with its quoting and its joins; nothing is written by hand.

Only for queries whose SQL is the same whatever the values (no `IN` of varying length, no
value that changes the statement's shape). The rows are values_list() rows, converted from the
database's types as the ORM converts them (SQLite's datetimes, for one).
"""

import weakref

from django.db import connections, models
from django.db.models import signals, sql
from django.utils.functional import cached_property


def converted(rows, converters, connection):
    """The rows with the ORM's converters applied: [(at, functions, expression)], what
    compiler.get_converters() gives, applied as its results_iter() applies them."""
    if not converters:
        return rows
    rows = [list(row) for row in rows]
    for row in rows:
        for at, functions, expression in converters:
            for convert in functions:
                row[at] = convert(row[at], expression, connection)
    return [tuple(row) for row in rows]


class Prepared:
    """`build(*placeholders)` → a QuerySet (a values_list() of plain columns); its SQL is
    compiled once per connection (per database and thread), and `rows(alias, *values)` runs
    it with `values`.

    Each placeholder must be a value its field accepts, as a real value would be (the ORM
    leaves out a condition it knows no row can meet, such as a negative number for a positive
    field, which would change the statement), that nothing else in the query uses, and that the
    ORM passes on unchanged as one parameter (an int or a str). A placeholder that is not
    exactly one parameter is refused when the query is first compiled, not run wrongly.
    """

    def __init__(self, build, *placeholders, suffix=""):
        self.build = build
        self.placeholders = placeholders
        self.suffix = suffix  # put after the ORM's statement: " FOR SHARE", which it has not
        self._compiled = weakref.WeakKeyDictionary()  # a connection -> its statement

    def _compile(self, connection):
        compiler = self.build(*self.placeholders).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        sql += self.suffix
        params = list(params)
        # The ORM's own converters of the selected columns, as its results_iter() applies them.
        selected = [column for column, _sql, _alias in compiler.select[: compiler.col_count]]
        converters = [
            (at, functions, expression)
            for at, (functions, expression) in compiler.get_converters(selected).items()
        ]
        slots = []
        for placeholder in self.placeholders:
            at = [i for i, param in enumerate(params) if param == placeholder]
            if len(at) != 1:
                raise RuntimeError(f"placeholder {placeholder!r} is {len(at)} parameters of {sql}")
            slots.append(at[0])
        return sql, params, slots, converters

    def rows(self, alias, *values):
        connection = connections[alias]
        # Per connection, so per thread: the converters kept are the connection's operations'.
        if connection not in self._compiled:
            self._compiled[connection] = self._compile(connection)
        sql, params, slots, converters = self._compiled[connection]
        params = list(params)
        for slot, value in zip(slots, values, strict=True):
            params[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return converted(rows, converters, connection)


class PreparedInsert:
    """An INSERT of `rows` new instances of a model, its SQL written by the ORM once per
    connection (the InsertQuery that save() and bulk_create() compile) and run again with other
    instances' values, each prepared as the ORM's compiler prepares it (the field's pre_save(),
    then its get_db_prep_save() for the connection of the moment).

    `returning`: the new primary keys (and any db_returning field) are read back (RETURNING:
    PostgreSQL, SQLite 3.35+) and set on the instances, as save() and bulk_create() set them.
    `as_save`: the INSERT stands in for save(), which also sends the model's pre_save and
    post_save and may be overridden: if anything listens to those signals, or the model has its
    own save(), each instance is saved with save() instead, so nothing is missed. Every value
    must be a plain value (no expression), and no field may change its value when saved
    (auto_now, auto_now_add, a file): the statement is refused when compiled. The ORM passes the
    values as one parameter each, or (PostgreSQL, several rows) as one array a column for
    UNNEST; a statement whose parameters are neither is refused when compiled.
    """

    def __init__(self, model, rows=1, returning=False, as_save=False):
        self.model = model
        self.rows = rows
        self.returning = returning
        self.as_save = as_save
        self._compiled = weakref.WeakKeyDictionary()  # a connection -> its statement

    @cached_property
    def _fields(self):
        """The fields save() INSERTs for an instance without a primary key."""
        meta = self.model._meta
        return [
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        ]

    def _compile(self, connection, instances):
        meta = self.model._meta
        fields = self._fields
        changing = [
            f.name
            for f in fields
            if getattr(f, "auto_now", False)
            or getattr(f, "auto_now_add", False)
            or isinstance(f, models.FileField)
        ]
        if changing:
            raise RuntimeError(f"fields whose value changes when saved: {changing}")
        query = sql.InsertQuery(self.model)
        query.insert_values(fields, instances)
        compiler = query.get_compiler(connection=connection)
        returning = meta.db_returning_fields if self.returning else []
        if returning:
            features = connection.features
            if not features.can_return_columns_from_insert or not (
                self.rows == 1 or features.can_return_rows_from_bulk_insert
            ):
                raise RuntimeError(f"{connection.vendor} cannot return the new rows")
            compiler.returning_fields = returning
        statements = compiler.as_sql()
        params = list(statements[0][1]) if len(statements) == 1 else []
        if len(params) == len(fields) * self.rows:
            layout = by_rows
        elif len(params) == len(fields) and all(
            isinstance(column, list) and len(column) == self.rows for column in params
        ):
            layout = by_columns  # PostgreSQL's UNNEST of one array a column
        else:
            raise RuntimeError(f"parameters not a value each nor an array a column: {statements}")
        # The ORM's converters of the values read back, as its execute_sql() applies them.
        columns = [f.get_col(meta.db_table) for f in returning]
        converters = [(at, *pair) for at, pair in compiler.get_converters(columns).items()]
        return statements[0][0], layout, returning, converters

    def insert(self, alias, instances):
        if len(instances) != self.rows:
            raise ValueError(f"{len(instances)} instances for an INSERT of {self.rows}")
        if any(instance.pk is not None for instance in instances):
            raise ValueError("an instance with a primary key: that is save()'s, not an INSERT")
        if self.as_save and (
            type(instances[0]).save is not models.Model.save
            or signals.pre_save.has_listeners(self.model)
            or signals.post_save.has_listeners(self.model)
        ):
            for instance in instances:
                instance.save(force_insert=True, using=alias)
            return
        connection = connections[alias]
        values = self._values(instances, self._fields, connection)
        # Per connection, so per thread: what is compiled keeps the connection's operations.
        if connection not in self._compiled:
            self._compiled[connection] = self._compile(connection, instances)
        text, layout, returning, converters = self._compiled[connection]
        with connection.cursor() as cursor:
            cursor.execute(text, layout(values))
            rows = cursor.fetchall() if returning else None
        if returning:
            for instance, row in zip(
                instances, converted(rows, converters, connection), strict=True
            ):
                for field, value in zip(returning, row, strict=True):
                    setattr(instance, field.attname, value)
        for instance in instances:
            instance._state.adding = False
            instance._state.db = alias

    @staticmethod
    def _values(instances, fields, connection):
        """Each instance's values, as the ORM's compiler prepares them for an INSERT."""
        rows = []
        for instance in instances:
            row = []
            for field in fields:
                value = field.pre_save(instance, add=True)
                if hasattr(value, "resolve_expression"):
                    raise ValueError(f"{field.name}: an expression, not a value")
                row.append(field.get_db_prep_save(value, connection=connection))
            rows.append(row)
        return rows


# How an INSERT's parameters hold the rows' values: one a value, or one array a column.
def by_rows(rows):
    return [value for row in rows for value in row]


def by_columns(rows):
    return [list(column) for column in zip(*rows, strict=True)]
