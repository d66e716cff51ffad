import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlserve.settings")

django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from deployments.fastpath import FastPredict  # noqa: E402  (needs the settings above)
from deployments.warmup import ServingProcess  # noqa: E402
from mlserve.front import ClientAddressFromFront  # noqa: E402
from models_registry.runners.client import check_sandbox  # noqa: E402

# Models run in bubblewrap sandboxes: without it (and without MLSERVE_SANDBOX=off) we do not serve.
check_sandbox()

# The synchronous predict call with a token and JSON skips Django's stack (see deployments/fastpath.py).
served = FastPredict(django_application) if settings.MLSERVE_FAST_PREDICT else django_application
# Behind nginx (make run), the client's address comes from it (mlserve/front.py).
application = ClientAddressFromFront(ServingProcess(served))
