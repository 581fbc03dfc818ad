from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from zibo_vote.forms import Form

from .identity import normalise_code, normalise_phone


class PhoneForm(Form):
    phone = forms.CharField(
        label=_("手机号码"),
        max_length=32,
        help_text=_("中国大陆手机号码，11位。"),
        error_messages={"required": _("请输入手机号码。"), "max_length": _("手机号码过长。")},
        widget=forms.TextInput(
            attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel", "spellcheck": "false"}
        ),
    )

    def clean_phone(self):
        return normalise_phone(self.cleaned_data["phone"])


class CodeForm(Form):
    code = forms.CharField(
        label=_("短信验证码"),
        max_length=20,
        help_text=_("短信中的6位数字，5分钟内有效。"),
        error_messages={"required": _("请输入短信验证码。"), "max_length": _("验证码是6位数字。")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )

    def clean_code(self):
        code = normalise_code(self.cleaned_data["code"])
        if code is None:
            raise ValidationError(_("验证码是6位数字，请核对短信后重新输入。"), code="format")
        return code
