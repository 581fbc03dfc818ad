from functools import lru_cache

from django import forms
from django.core.exceptions import ValidationError
from django.template.defaultfilters import linebreaks_filter
from django.utils.choices import BaseChoiceIterator
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from reforms.models import Reform
from reforms.templatetags.reforms import item_label
from verification.identity import normalise_id_number
from zibo_vote.forms import Form


def card_item(reform, index, input_type, language):
    """An entry's item on the ballot in the active `language`, its box and its card (title and
    unit inside the box's label, the whole text to unfold), as the HTML before and after where
    the box's state goes (" checked", aria-invalid). Written here and kept, not rendered through
    template nodes: the fifteen cards were most of GET /vote/'s template time
    (docs/benchmark.md)."""
    return _card_item(
        language, index, input_type, reform.number, reform.title, reform.unit, reform.body
    )


# Kept by the language, the box and the wording itself: an edited entry is a new key and never
# shows its old words, and nothing needs clearing; 512 is a few polls' worth of items.
@lru_cache(maxsize=512)
def _card_item(language, index, input_type, number, title, unit, body):
    label, more = _card_text(language, number, title, unit, body)
    before = format_html(
        '<li class="choice">\n<label for="id_choices_{}">\n<input type="{}" '
        'name="choices" value="{}" id="id_choices_{}"',
        index,
        input_type,
        number,
        index,
    )
    return before, format_html(">\n{}\n</label>\n{}\n</li>", label, more)


def _card_text(language, number, title, unit, body):
    reform = Reform(number=number, title=title, unit=unit, body=body)
    label = format_html(
        '<span class="choice-text" lang="zh-Hans"><span class="choice-title">'
        '<span class="numeral">{}、</span>{}</span><span class="unit">{}</span></span>',
        reform.numeral,
        title,
        unit,
    )
    # Read the whole text here, without leaving the ballot and the choices made on it.
    more = format_html(
        '<details class="choice-more"><summary><span class="when-closed">{}</span>'
        '<span class="when-open">{}</span><span class="visually-hidden"> {}</span></summary>'
        '<div class="choice-body" lang="zh-Hans">{}</div></details>',
        gettext("展开全文"),
        gettext("收起"),
        item_label(reform),
        linebreaks_filter(body),  # escaped, then marked safe, as the filter is
    )
    return label, more


class Offered(BaseChoiceIterator):
    """The ballot's (number, title) pairs, in the form Django's choices take already. A field
    given a list normalises it, and its widget normalises it again, pair by pair and label by
    label, on every ballot form (1 % of a flow, docs/benchmark.md); an iterator of choices it
    takes as it is. Only iterated (as Django's BaseChoiceIterator): no len(), and always true.
    """

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)


CHECKED = mark_safe(" checked")
ARIA_INVALID = mark_safe(' aria-invalid="true"')


class BallotForm(Form):
    choices = forms.TypedMultipleChoiceField(
        coerce=int,
        error_messages={
            "required": _("请至少选择一项改革创新经验。"),
            "invalid_choice": _("所选经验不在本次评选范围内，请重新选择。"),
        },
    )

    def __init__(self, poll, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.poll = poll
        self.reforms = poll.published_entries()
        field = self.fields["choices"]
        field.choices = Offered([(reform.number, reform.title) for reform in self.reforms])
        # A list either way (the template writes radio buttons or checkboxes): a request that
        # sends `choices` twice on a one-choice ballot is told "too many", not cut to one.
        if poll.max_choices == 1:
            field.label = _("请选择一项")
            # "至少" speaks of several; a one-choice ballot has one to choose.
            field.error_messages["required"] = _("请选择一项改革创新经验。")
        else:
            field.label = gettext("请选择1至%(count)d项") % {"count": poll.max_choices}
        if poll.require_id_number:
            self.fields["id_number"] = forms.CharField(
                label=_("居民身份证号码"),
                max_length=40,
                help_text=_(
                    "18位，最后一位可能是字母X。网站只保存用密钥计算的号码摘要，用于确保一人一票。"
                ),
                error_messages={"required": _("请输入居民身份证号码。")},
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            )

    def clean_choices(self):
        numbers = self.cleaned_data["choices"]
        if len(set(numbers)) != len(numbers):
            raise ValidationError(_("同一项经验只能选择一次。"), code="duplicate")
        if len(numbers) > self.poll.max_choices:
            raise ValidationError(
                _("本次评选每张选票最多选择%(max)d项，您选择了%(count)d项。"),
                code="too_many",
                params={"max": self.poll.max_choices, "count": len(numbers)},
            )
        return numbers

    def clean_id_number(self):
        return normalise_id_number(self.cleaned_data["id_number"], self.poll.region_prefixes)

    @property
    def input_type(self):
        return "radio" if self.poll.max_choices == 1 else "checkbox"

    def choice_items(self):
        """The ballot's boxes, each with its entry's card, as the <li> items of its list.

        Written here, not through template nodes or Django's widget templates: on the busiest
        form of the site a node per box made the ballot's template time grow with every entry
        (docs/benchmark.md). Each item is card_item()'s, kept; only whether a box is ticked
        and whether the choice is in error change from one request to the next.
        """
        if self.is_bound:
            ticked = set(self.data.getlist("choices"))
        else:  # ?choices=3: 投票 on an entry's page, 返回修改 on the review
            ticked = {str(number) for number in self.initial.get("choices", [])}
        invalid = ARIA_INVALID if self.is_bound and self.errors.get("choices") else ""
        items = []
        language = get_language()  # once for the fifteen: each look-up is a context-local's
        for index, reform in enumerate(self.reforms):
            before, after = card_item(reform, index, self.input_type, language)
            ticked_here = CHECKED if str(reform.number) in ticked else ""
            items.append(f"{before}{ticked_here}{invalid}{after}")
        return mark_safe("\n".join(items))  # noqa: S308 (format_html's parts and constants)

    def chosen(self):
        """The entries chosen, in the ballot's order (after is_valid())."""
        numbers = set(self.cleaned_data["choices"])
        return [reform for reform in self.reforms if reform.number in numbers]
