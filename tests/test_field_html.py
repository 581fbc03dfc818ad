"""The field groups of the citizen's forms, written in Python (zibo_vote.forms.BoundField), are
Django's own HTML to the character, and render no template; other fields are left to Django."""

import pytest
from django import forms
from django.test import signals
from django.utils import translation
from django.utils.functional import lazy
from django.utils.safestring import mark_safe

from ballots.forms import BallotForm
from verification.forms import CodeForm, PhoneForm
from zibo_vote.forms import Form

from .conftest import text

NEEDS_ESCAPING = "\"<>&'"

# A value each field accepts, for the "bound, valid" state.
VALID = {"phone": "13812345678", "code": "123456", "id_number": "370303198506120030"}


def djangos_own(bound_field):
    """The field group as Django's templates render it."""
    return forms.BoundField.as_field_group(bound_field)


def rendered(render):
    """What render() returns, and the names of the templates rendered while it ran."""
    names = []

    def seen(sender, template, context, **kwargs):
        names.append(template.name)

    signals.template_rendered.connect(seen)
    try:
        html = render()
    finally:
        signals.template_rendered.disconnect(seen)
    return html, names


def states(make_form, name):
    """(description, form) in each state a field group is shown in; every form is new."""
    other = {"choices": ["1"]}  # the ballot's other field; ignored by the others
    yield "unbound", make_form()
    yield "unbound, initial value to escape", make_form(initial={name: NEEDS_ESCAPING})
    yield "unbound, initial value", make_form(initial={name: VALID[name]})
    yield "bound, valid", make_form(data={**other, name: VALID[name]})
    yield "bound, empty", make_form(data={**other, name: ""})
    yield "bound, value to escape", make_form(data={**other, name: NEEDS_ESCAPING})
    form = make_form(data={**other, name: NEEDS_ESCAPING})
    form.is_valid()
    form.add_error(name, "又一条 <b>错误</b> & 'x'")  # escaped, as Django's ErrorList is
    form.add_error(name, "第三条")
    yield "bound, three errors", form
    form = make_form(data={**other, name: "1" * 50})  # too long for max_length, too
    yield "bound, too long", form
    form = make_form(data={**other, name: VALID[name]})
    form.fields[name].help_text = ""
    yield "bound, valid, no help text", form
    form = make_form(data={**other, name: NEEDS_ESCAPING})
    form.fields[name].help_text = ""
    yield "bound, error, no help text", form
    form = make_form()
    form.fields[name].help_text = ""
    yield "unbound, no help text", form
    form = make_form()
    form.fields[name].required = False
    yield "unbound, not required", form
    form = make_form(data={**other, name: NEEDS_ESCAPING})
    form.fields[name].required = False
    yield "bound, error, not required", form
    form = make_form(data={**other, name: VALID[name]})
    form.fields[name].disabled = True
    yield "bound, disabled", form
    form = make_form(label_suffix="：")
    yield "unbound, a label suffix", form
    form = make_form()
    form.fields[name].label = "Phone <number> & more?"
    form.fields[name].label_suffix = ":"
    yield "unbound, a label to escape ending in punctuation", form
    form = make_form(prefix="p")
    yield "unbound, prefixed", form
    form = make_form()
    form.fields[name].label = mark_safe("<b>电话</b> & 号码")
    form.fields[name].help_text = mark_safe("请填写<strong>本人</strong>号码 &amp; 核对")
    yield "unbound, a label and a help text of safe HTML", form
    form = make_form()
    form.fields[name].label = lazy(mark_safe, str)("<i>lazy</i> & safe")
    form.fields[name].help_text = lazy(mark_safe, str)("<i>帮助</i>")
    yield "unbound, a lazy label and help text that are safe HTML", form
    form = make_form()
    form.fields[name].widget.attrs.update(
        {"data-flag": True, "data-off": False, "data-none": None, "data-n": 0,
         "data-lazy": lazy(str, str)("a&b"), "data-safe": lazy(mark_safe, str)("<x>")}
    )  # fmt: skip
    yield "unbound, attributes of every kind", form


@pytest.fixture(params=["zh-hans", "en"])
def language(request):
    with translation.override(request.param):
        yield request.param


@pytest.fixture(params=["phone", "code", "id_number"])
def field_form(request):
    """(field name, a callable making its form)."""
    name = request.param
    if name == "phone":
        return name, PhoneForm
    if name == "code":
        return name, CodeForm
    poll = request.getfixturevalue("poll")
    poll.require_id_number = True
    return name, lambda **kwargs: BallotForm(poll, **kwargs)


def test_field_group_is_djangos_html(field_form, language):
    name, make_form = field_form
    for state, form in states(make_form, name):
        if state == "bound, valid":
            assert not form[name].errors
        ours, templates = rendered(form[name].as_field_group)
        assert templates == [], f"{name}, {state}: not written in Python"
        assert ours == djangos_own(form[name]), f"{name}, {state}, {language}"


def test_field_group_escapes_and_describes(language):
    form = PhoneForm(data={"phone": NEEDS_ESCAPING})
    form.is_valid()
    form.add_error("phone", "<script>")
    html = str(form["phone"].as_field_group())
    assert 'value="&quot;&lt;&gt;&amp;&#x27;"' in html
    assert "<li>&lt;script&gt;</li>" in html
    assert '<ul class="errorlist" id="id_phone_error">' in html
    assert 'aria-invalid="true" aria-describedby="id_phone_helptext id_phone_error"' in html


def test_field_group_renders_no_template():
    for form in (PhoneForm(), PhoneForm(data={"phone": "1"}), CodeForm(data={"code": "12"})):
        for field in form:
            html, templates = rendered(field.as_field_group)
            assert templates == []
            assert html.startswith(f'<label for="{field.auto_id}">')


def form_templates(response):
    return [t.name for t in response.templates if t.name.startswith("django/forms/")]


def test_verification_pages_render_no_field_templates(client, poll):
    response = client.get("/verify/")
    assert response.status_code == 200
    assert form_templates(response) == []
    html = text(response)
    assert '<label for="id_phone">手机号码</label>' in html
    assert '<div class="helptext" id="id_phone_helptext">中国大陆手机号码，11位。</div>' in html
    assert 'aria-describedby="id_phone_helptext" id="id_phone">' in html

    # The code step, after a refused code: its errors written beside the field.
    response = client.post("/verify/", {"phone": "13812345678"})
    assert response.status_code == 302
    response = client.post("/verify/", {"code": "12"}, follow=True)
    assert response.status_code == 200
    assert form_templates(response) == []
    html = text(response)
    assert '<label for="id_code">短信验证码</label>' in html
    assert '<ul class="errorlist" id="id_code_error">' in html
    assert 'aria-invalid="true" aria-describedby="id_code_helptext id_code_error"' in html


def test_ballot_id_number_renders_no_field_template(poll):
    poll.require_id_number = True
    form = BallotForm(poll, data={"choices": ["1"], "id_number": "1"})
    html, templates = rendered(form["id_number"].as_field_group)
    assert templates == []
    assert 'aria-describedby="id_id_number_helptext id_id_number_error"' in html


class FancyInput(forms.TextInput):
    template_name = "django/forms/widgets/textarea.html"  # a subclass may render otherwise


class OtherWidgetsForm(Form):
    choice = forms.ChoiceField(choices=[("a", "<A>"), ("b", "B")], help_text="选一个")
    radio = forms.ChoiceField(choices=[("a", "A")], widget=forms.RadioSelect)  # a fieldset
    agree = forms.BooleanField(help_text="同意")
    note = forms.CharField(widget=forms.Textarea)
    secret = forms.CharField(widget=forms.PasswordInput)
    hidden = forms.CharField(widget=forms.TextInput(attrs={"type": "hidden"}))
    fancy = forms.CharField(widget=FancyInput)
    templated = forms.CharField(template_name="django/forms/p.html")
    localized = forms.DecimalField(localize=True, widget=forms.NumberInput)
    with_initial = forms.CharField(show_hidden_initial=True)


@pytest.mark.parametrize("bound", [False, True])
def test_other_fields_render_djangos_way(bound, language):
    data = {"choice": "z", "note": "<x>", "secret": "s", "fancy": "&"} if bound else None
    form = OtherWidgetsForm(data=data)
    for field in form:
        html, templates = rendered(field.as_field_group)
        assert templates, f"{field.name} should have gone through Django's templates"
        assert html == djangos_own(field), field.name


def test_a_form_without_ids_is_left_to_django():
    form = PhoneForm(auto_id=False)  # the label is then bare text
    html, templates = rendered(form["phone"].as_field_group)
    assert templates
    assert html == djangos_own(form["phone"])


def test_the_error_summary_lists_what_is_at_fault_and_nothing_for_a_form_without_a_fault():
    class TwoFields(Form):
        a = forms.CharField()
        b = forms.CharField()

    assert not TwoFields().error_summary()  # unbound
    assert not TwoFields(data={"a": "1", "b": "2"}).error_summary()  # valid
    both = TwoFields(data={}).error_summary()
    assert [field.name for field in both.fields] == ["a", "b"] and both
    only_the_form = TwoFields(data={"a": "1", "b": "2"})
    only_the_form.add_error(None, "两项不一致。")
    summary = only_the_form.error_summary()
    assert summary.fields == [] and list(summary.non_field_errors) == ["两项不一致。"]
    assert summary  # an error of no field is listed in the box
