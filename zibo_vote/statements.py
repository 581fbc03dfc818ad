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

from django.db import connections
from django.db.models import signals, sql


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
    compiled once per database alias, and `rows(alias, *values)` runs it with `values`.

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
        self._compiled = {}

    def _compile(self, alias):
        compiler = self.build(*self.placeholders).query.get_compiler(alias)
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
        if alias not in self._compiled:
            self._compiled[alias] = self._compile(alias)
        sql, params, slots, converters = self._compiled[alias]
        params = list(params)
        for slot, value in zip(slots, values, strict=True):
            params[slot] = value
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return converted(rows, converters, connection)


class PreparedInsert:
    """An INSERT of `rows` new instances of a model, its SQL written by the ORM once per database
    (the InsertQuery that save() and bulk_create() compile) and run again with other instances'
    values, each prepared as the ORM's compiler prepares it (the field's pre_save(), then its
    get_db_prep_save() for the database of the moment).

    `returning`: the new primary keys (and any db_returning field) are read back (RETURNING:
    PostgreSQL, SQLite 3.35+) and set on the instances, as save() sets them. For an INSERT that
    stands in for save(), which also sends the model's pre_save and post_save: if anything
    listens to those, each instance is saved with save() instead, so no receiver is missed.
    Every value must be a plain value (no expression). The ORM passes the values as one
    parameter each, or (PostgreSQL, several rows) as one array a column for UNNEST; when
    compiled, the ORM's parameters must be the first instances' values in one of those two
    layouts, or the statement is refused.
    """

    def __init__(self, model, rows=1, returning=False):
        self.model = model
        self.rows = rows
        self.returning = returning
        self._compiled = {}

    def _compile(self, alias, instances):
        meta = self.model._meta
        # The fields save() INSERTs for an instance without a primary key.
        fields = [
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        ]
        query = sql.InsertQuery(self.model)
        query.insert_values(fields, instances)
        compiler = query.get_compiler(alias)
        returning = meta.db_returning_fields if self.returning else []
        if returning:
            features = compiler.connection.features
            if not features.can_return_columns_from_insert or not (
                self.rows == 1 or features.can_return_rows_from_bulk_insert
            ):
                raise RuntimeError(f"{compiler.connection.vendor} cannot return the new rows")
            compiler.returning_fields = returning
        statements = compiler.as_sql()
        values = self._values(instances, fields, compiler.connection)
        layouts = [layout for layout in LAYOUTS if [*statements[0][1]] == layout(values)]
        if len(statements) != 1 or not layouts:
            raise RuntimeError(
                f"parameters not the values, a row or a column at a time: {statements}"
            )
        # The ORM's converters of the values read back, as its execute_sql() applies them.
        columns = [f.get_col(meta.db_table) for f in returning]
        converters = [(at, *pair) for at, pair in compiler.get_converters(columns).items()]
        return statements[0][0], fields, layouts[0], returning, converters

    def insert(self, alias, instances):
        if len(instances) != self.rows:
            raise ValueError(f"{len(instances)} instances for an INSERT of {self.rows}")
        if self.returning and (
            signals.pre_save.has_listeners(self.model)
            or signals.post_save.has_listeners(self.model)
        ):
            for instance in instances:
                instance.save(force_insert=True, using=alias)
            return
        if alias not in self._compiled:
            self._compiled[alias] = self._compile(alias, instances)
        text, fields, layout, returning, converters = self._compiled[alias]
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(text, layout(self._values(instances, fields, connection)))
            rows = cursor.fetchall() if returning else ()
        for instance, row in zip(instances, converted(rows, converters, connection), strict=False):
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
LAYOUTS = (
    lambda rows: [value for row in rows for value in row],
    lambda rows: [list(column) for column in zip(*rows, strict=True)],
)
