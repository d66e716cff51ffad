from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import InviteCreateForm, SignUpForm, TokenCreateForm
from core.errors import ApplicationError


def signup(request):
    """Sign-up as MLSERVE_REGISTRATION allows: open to all, through an invitation link
    (?invite=...), or closed. An invitation link also works while sign-up is open."""
    if request.user.is_authenticated:
        return redirect("models_registry:list")
    mode = settings.MLSERVE_REGISTRATION
    link = request.GET.get("invite", "")
    invite = selectors.invite_for_link(link) if mode != "closed" else None
    if mode == "closed" or (mode == "invite" and invite is None):
        context = {"mode": mode, "link_given": bool(link)}
        return render(request, "accounts/signup_closed.html", context, status=403)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(form=form, invite=invite)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome, %(username)s! Upload your first model to get started.") % {"username": user.username})
            return redirect("models_registry:list")
    return render(request, "accounts/signup.html", {"form": form, "invite": invite})


def staff_required(view):
    """Staff pages: visitors log in first, other users get 403."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff may manage invitations.")
        return view(request, *args, **kwargs)

    return wrapped


@staff_required
def invites(request):
    form = InviteCreateForm(request.POST or None, initial={"days": settings.MLSERVE_INVITE_DAYS})
    new_link = None
    if request.method == "POST" and form.is_valid():
        try:
            _invite, secret = services.invite_create(
                created_by=request.user, note=form.cleaned_data["note"], days=form.cleaned_data["days"]
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            new_link = request.build_absolute_uri(reverse("accounts:signup") + f"?invite={secret}")
            days = form.cleaned_data["days"]
            messages.success(
                request,
                ngettext(
                    "Invitation created, valid for %(days)d day. Copy the link now: it is shown once.",
                    "Invitation created, valid for %(days)d days. Copy the link now: it is shown once.",
                    days,
                )
                % {"days": days},
            )
            form = InviteCreateForm(initial={"days": settings.MLSERVE_INVITE_DAYS})
    context = {"form": form, "new_link": new_link, "invites": selectors.invite_list(), "mode": settings.MLSERVE_REGISTRATION}
    return render(request, "accounts/invites.html", context)


@staff_required
@require_POST
def invite_revoke(request, invite_id: int):
    try:
        services.invite_revoke(invite=selectors.invite_get(invite_id))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Invitation revoked: its link no longer works."))
    return redirect("accounts:invites")


@login_required
def account(request):
    form = TokenCreateForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            token, new_key = services.token_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("Token '%(name)s' created. Copy it now: it will not be shown again.") % {"name": token.name})
            form = TokenCreateForm()
    context = {"form": form, "new_key": new_key, "tokens": selectors.token_list_for_user(request.user)}
    return render(request, "accounts/account.html", context)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = selectors.token_get_for_user(request.user, token_id)
    services.token_revoke(token=token)
    messages.success(request, _("Token '%(name)s' revoked: programs using it now get 401.") % {"name": token.name})
    return redirect("accounts:account")
