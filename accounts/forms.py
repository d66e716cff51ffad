from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.contrib.auth.forms import PasswordChangeForm as BasePasswordChangeForm
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.forms import BootstrapMixin


class SignUpForm(BootstrapMixin, UserCreationForm):
    email = forms.EmailField(required=False, label=_("E-mail"), help_text=_("Optional; used for nothing but password resets by an admin."))

    class Meta:
        model = User
        fields = ("username", "email")


class TokenCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"), help_text=_("What uses this token, e.g. 'laptop' or 'nightly-job'."))


class InviteCreateForm(BootstrapMixin, forms.Form):
    note = forms.CharField(max_length=200, required=False, label=_("Note"), help_text=_("Whom it is for (only staff see it)."))
    days = forms.IntegerField(min_value=1, max_value=365, label=_("Days"), help_text=_("Days the link stays valid."))


class LoginForm(BootstrapMixin, AuthenticationForm):
    pass


class PasswordChangeForm(BootstrapMixin, BasePasswordChangeForm):
    pass
