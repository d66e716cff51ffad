import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin from MLSERVE_ADMIN_USER/MLSERVE_ADMIN_PASSWORD, or say how to create one."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("MLSERVE_ADMIN_USER")
        password = os.environ.get("MLSERVE_ADMIN_PASSWORD")
        if username and password:
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"Admin user {username!r} already exists.")
            else:
                User.objects.create_superuser(username=username, password=password, email=os.environ.get("MLSERVE_ADMIN_EMAIL", ""))
                self.stdout.write(self.style.SUCCESS(f"Created admin user {username!r}."))
            return
        if not User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "No admin user yet. Create one with:\n"
                "    .venv/bin/python manage.py createsuperuser\n"
                "or start with MLSERVE_ADMIN_USER=... MLSERVE_ADMIN_PASSWORD=... make run"
            )
