"""The runner supervisor in the foreground (for a systemd unit of its own), or its state.

    python manage.py runners            # serve until stopped (does not exit without clients)
    python manage.py runners --status   # the runners of this machine and their state
"""

import json
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from models_registry.runners import client


class Command(BaseCommand):
    help = "Run the runner supervisor in the foreground, or show the runners (--status)."

    def add_arguments(self, parser):
        parser.add_argument("--status", action="store_true", help="print the runners of this machine and exit")

    def handle(self, *args, status: bool = False, **options):
        if status:
            self.stdout.write(json.dumps(client.status(), indent=2))
            return
        client.check_sandbox()
        command = [sys.executable, "-m", "models_registry.runners.supervisor", "--persistent",
                   "--config", json.dumps(client.supervisor_config())]
        client.run_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chdir(settings.BASE_DIR)  # python -m finds mlserve's packages from here
        os.execv(sys.executable, command)
