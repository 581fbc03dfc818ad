from django import forms


class Form(forms.Form):
    """Labels without Django's ASCII colon, which has no place in Chinese text."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
