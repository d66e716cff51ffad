from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import SignUpForm, TokenCreateForm
from mlserve.errors import ApplicationError


def signup(request):
    if request.user.is_authenticated:
        return redirect("models_registry:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}! Upload your first model to get started.")
        return redirect("models_registry:list")
    return render(request, "accounts/signup.html", {"form": form})


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
            messages.success(request, f"Token {token.name!r} created. Copy it now: it will not be shown again.")
            form = TokenCreateForm()
    context = {"form": form, "new_key": new_key, "tokens": selectors.token_list_for_user(request.user)}
    return render(request, "accounts/account.html", context)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = selectors.token_get_for_user(request.user, token_id)
    services.token_revoke(token=token)
    messages.success(request, f"Token {token.name!r} revoked: programs using it now get 401.")
    return redirect("accounts:account")
