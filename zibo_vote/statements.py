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


class Prepared:
    """`build(*placeholders)` → a QuerySet (a values_list() of plain columns); its SQL is
    compiled once per database alias, and `rows(alias, *values)` runs it with `values`.

    Each placeholder must be a value its field accepts, as a real value would be (the ORM
    leaves out a condition it knows no row can meet, such as a negative number for a positive
    field, which would change the statement), that nothing else in the query uses, and that the
    ORM passes on unchanged as one parameter (an int or a str). A placeholder that is not
    exactly one parameter is refused when the query is first compiled, not run wrongly.
    """

    def __init__(self, build, *placeholders):
        self.build = build
        self.placeholders = placeholders
        self._compiled = {}

    def _compile(self, alias):
        compiler = self.build(*self.placeholders).query.get_compiler(alias)
        sql, params = compiler.as_sql()
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
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for at, functions, expression in converters:
                    for convert in functions:
                        row[at] = convert(row[at], expression, connection)
            rows = [tuple(row) for row in rows]
        return rows
