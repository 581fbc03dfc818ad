from django import forms
from django.utils.translation import gettext_lazy as _


class ReceiptForm(forms.Form):
    receipt = forms.CharField(
        label=_("回执编号"),
        max_length=64,
        help_text=_("投票成功后页面显示的12位编号，例如 7K3M-9QX2-ABCD。"),
        error_messages={"required": _("请输入回执编号。"), "max_length": _("回执编号过长。")},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
