from dataclasses import dataclass

from django import forms


@dataclass(frozen=True)
class ErrorSummary:
    fields: list  # bound fields with an error, each shown beside its field
    non_field_errors: list

    def __bool__(self):
        # One message beside its field says it all; a box repeating it would push the button
        # below the fold of a phone. The box is for several fields, or an error of no field.
        return len(self.fields) > 1 or bool(self.non_field_errors)


class Form(forms.Form):
    """Labels without Django's ASCII colon, which has no place in Chinese text."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def error_summary(self):
        """What includes/form_errors.html lists at the top: links to the fields at fault."""
        return ErrorSummary(
            fields=[field for field in self if field.errors],
            non_field_errors=list(self.non_field_errors()),
        )
