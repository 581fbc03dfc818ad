from dataclasses import dataclass
from html import escape as escape_text

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.forms.renderers import DjangoTemplates
from django.forms.utils import ErrorList
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
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


# The <input> widgets Django writes with django/forms/widgets/input.html alone: no choices, no
# value of their own to format (as the date inputs have) and none kept back (as a password).
TEXT_LIKE_INPUTS = (
    forms.TextInput,
    forms.EmailInput,
    forms.NumberInput,
    forms.SearchInput,
    forms.TelInput,
    forms.URLInput,
)


def escaped(value):
    """conditional_escape(value), the same text, without the wrapper Django puts around it for
    lazy arguments: a field group escaped a dozen values through format_html, which was most
    of its time (0.19 ms of the 0.2 a group)."""
    if isinstance(value, Promise):
        value = str(value)  # as conditional_escape: a lazy string's text may be safe HTML
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape_text(str(value))  # what django.utils.html.escape() does


def html_attrs(attrs):
    """The attributes as django/forms/attrs.html writes them: ` name="value"`, escaped; a True
    value as the bare name, a False one left out; in the dict's order."""
    return mark_safe(  # noqa: S308 - every name and value escaped
        "".join(
            f" {escaped(name)}" if value is True else f' {escaped(name)}="{escaped(value)}"'
            for name, value in attrs.items()
            if value is not False
        )
    )


def error_list_html(errors):
    """An ErrorList as django/forms/errors/list/ul.html writes it: each message escaped."""
    if not errors:
        return ""
    return format_html(
        '<ul class="{}"{}>{}</ul>',
        errors.error_class,
        format_html(' id="{}_error"', errors.field_id) if errors.field_id else "",
        format_html_join("", "<li>{}</li>", ((message,) for message in errors)),
    )


class BoundField(forms.BoundField):
    """Django's bound field, whose as_field_group() writes the label, help text, errors and
    <input> of a plain text-like input in Python rather than through Django's five templates
    (field.html, label.html, input.html, attrs.html, ul.html): the same HTML, a fraction of the
    time. Any other field (other widgets, a fieldset, a template of its own, a hidden input) is
    rendered by Django as before."""

    def as_field_group(self):
        if not self._is_plain_input():
            return super().as_field_group()
        widget = self.field.widget
        # As as_widget() and Input.get_context() build them: the widget's own attributes, then
        # required, disabled, aria-invalid, aria-describedby and the id.
        attrs = self.build_widget_attrs({})
        if "id" not in widget.attrs:
            attrs["id"] = self.auto_id
        attrs = widget.build_attrs(widget.attrs, attrs)
        value = widget.format_value(self.value())  # None for no value, as Django leaves it out
        value = f' value="{escaped(value)}"' if value is not None else ""
        name = escaped(self.html_name)
        field = (
            f'<input type="{escaped(widget.input_type)}" name="{name}"{value}{html_attrs(attrs)}>'
        )
        label = self._label_html() if self.label else ""
        help_text = ""
        if self.help_text:
            # field.html writes it |safe: the site's words, which may hold markup.
            help_text = (
                f'<div class="helptext" id="{escaped(self.auto_id)}_helptext">'
                f"{self.help_text}</div>"
            )
        errors = error_list_html(self.errors)
        # field.html's line breaks around its parts, stripped at both ends as the renderer
        # does (which matters only where a part is missing).
        html = f"\n  {label}\n\n{help_text}\n{errors}\n{field}\n"
        return mark_safe(html.strip())  # noqa: S308 (each part escaped above or safe HTML)

    def _is_plain_input(self):
        """Whether as_field_group() would render nothing but Django's default templates for
        an <input> whose HTML _label_html() and as_field_group() write the same."""
        widget = self.field.widget
        return bool(
            type(widget) in TEXT_LIKE_INPUTS  # not a subclass, which may render otherwise
            and widget.template_name == type(widget).template_name
            and not widget.is_hidden  # TextInput(attrs={"type": "hidden"})
            and not widget.use_fieldset
            and not self.field.localize  # as_widget() would localise the value
            and not self.field.show_hidden_initial  # a second, hidden <input>
            and self.auto_id  # without an id, the label is bare text and nothing has an id
            and self.template_name == "django/forms/field.html"
            and self.form.template_name_label == "django/forms/label.html"
            # Django's own renderer (FORM_RENDERER is not set); an app of INSTALLED_APPS
            # shipping its own templates/django/forms/ would not be seen here, and none does
            # (tests/test_field_html.py compares the two renderings).
            and type(self.form.renderer) is DjangoTemplates
            and self.form.error_class is ErrorList
        )

    def _label_html(self):
        """label_tag() with no arguments, without rendering django/forms/label.html."""
        contents = self.label
        label_suffix = (
            self.field.label_suffix
            if self.field.label_suffix is not None
            else self.form.label_suffix
        )
        # As label_tag(): no suffix after a label that ends in punctuation.
        if label_suffix and contents and contents[-1] not in gettext(":?.!"):
            contents = format_html("{}{}", contents, label_suffix)
        attrs = {}
        if self.id_for_label:
            attrs["for"] = self.id_for_label
        if self.field.required and hasattr(self.form, "required_css_class"):
            attrs["class"] = self.form.required_css_class
        return mark_safe(f"<label{html_attrs(attrs)}>{escaped(contents)}</label>")  # noqa: S308


class Form(forms.Form):
    """Labels without Django's ASCII colon, which has no place in Chinese text; a NUL in a
    field refused in words a citizen can read; text inputs' field groups written in Python
    (BoundField above)."""

    bound_field_class = BoundField

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
        if not self.errors:  # unbound, or without a fault: nothing to list, no field to ask
            return ErrorSummary(fields=[], non_field_errors=[])
        return ErrorSummary(
            fields=[field for field in self if field.errors],
            non_field_errors=list(self.non_field_errors()),
        )
