from dataclasses import dataclass

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _

# Django's own words for this in Simplified Chinese are garbled (不允许是用空字符串。). Nobody
# types a NUL; a script does, and is told plainly what is wrong.
NUL_REFUSED = ProhibitNullCharactersValidator(
    message=_("输入内容含有无法识别的字符，请删除后重新输入。")
)


@dataclass(frozen=True)
class ErrorSummary:
    fields: list  # bound fields with an error, each shown beside its field
    non_field_errors: list

    def __bool__(self):
        # One message beside its field says it all; a box repeating it would push the button
        # below the fold of a phone. The box is for several fields, or an error of no field.
        return len(self.fields) > 1 or bool(self.non_field_errors)


class Form(forms.Form):
    """Labels without Django's ASCII colon, which has no place in Chinese text; a NUL in a
    field refused in words a citizen can read."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.validators = [
                NUL_REFUSED if isinstance(validator, ProhibitNullCharactersValidator) else validator
                for validator in field.validators
            ]

    def error_summary(self):
        """What includes/form_errors.html lists at the top: links to the fields at fault."""
        return ErrorSummary(
            fields=[field for field in self if field.errors],
            non_field_errors=list(self.non_field_errors()),
        )
