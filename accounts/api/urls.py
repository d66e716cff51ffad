from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/token", views.token_obtain, name="api-token-obtain"),
]
