"""The library every app shares: the error shape and its codes, the fault mapping, limits,
per-process caches and change announcements, file storage, pagination, form styling and
credentials.

Imports point one way: the project shell (`mlserve/`: settings, URLs, WSGI, pages) imports
the apps (`accounts`, `models_registry`, `deployments`), and the apps import `core`. Nothing
in `core` imports an app or the shell; `core.errors` imports nothing but the standard library,
so the model runners (which run without Django) can raise the same errors."""
