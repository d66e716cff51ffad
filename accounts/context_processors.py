from django.conf import settings


def registration(request) -> dict:
    """Whether pages offer "Sign up" to visitors (MLSERVE_REGISTRATION=open)."""
    return {"signup_open": settings.MLSERVE_REGISTRATION == "open", "mode_invite": settings.MLSERVE_REGISTRATION == "invite"}
