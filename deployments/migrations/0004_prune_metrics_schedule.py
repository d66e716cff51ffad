from django.db import migrations

NAME = "mlserve: prune old metric buckets"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME, defaults={"func": "deployments.tasks.prune_metrics", "schedule_type": "D", "repeats": -1}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("deployments", "0003_metrics")]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
