from django.core.management.base import BaseCommand

from deployments import services


class Command(BaseCommand):
    help = "Queue again (or fail) tasks whose worker died; run before starting a worker, and every minute by schedule."

    def handle(self, *args, **options):
        result = services.tasks_recover_stalled()
        self.stdout.write(f"Stalled tasks: {len(result['requeued'])} queued again, {len(result['failed'])} given up.")
