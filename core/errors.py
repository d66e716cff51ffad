"""The domain's errors: raised by services, turned into one JSON shape by the API
and into form errors or flash messages on pages."""

import re
from typing import Any

# An absolute file path of two parts or more (or a file: URL) inside an engine's message.
# Not a URL's path: a slash right after a word character, a dot or another slash is left alone.
_SERVER_PATH = re.compile(r"(?:\bfile:/{0,2}|(?<![\w./~-]))(?:/[\w.@+~-]+){2,}/?")


def without_paths(text: str) -> str:
    """An engine's error text fit to show a caller: every server path (the data dir's staging
    file, a library's install or build path) becomes '…/<last part>'."""
    return _SERVER_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


class ApplicationError(Exception):
    """Something the caller can fix; carries the HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidModel(ApplicationError):
    """The uploaded artifact cannot be loaded or does not predict."""

    code = "invalid_model"


class UnsupportedFormat(InvalidModel):
    code = "unsupported_format"


class InvalidInput(ApplicationError):
    """A prediction request whose body or fields do not fit the model's schema."""

    code = "invalid_input"


class TooLarge(ApplicationError):
    status_code = 413
    code = "too_large"


class NameTaken(ApplicationError):
    status_code = 409
    code = "name_taken"


class NotAllowed(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Unavailable(ApplicationError):
    status_code = 503
    code = "unavailable"


class ServiceUnavailable(Unavailable):
    """Redis or the object store does not answer (fault_error)."""

    code = "service_unavailable"


class ModelCrashed(ApplicationError):
    """The model's runner process died while answering (a crash in the engine or the model)."""

    status_code = 502
    code = "model_crashed"


class ModelOutOfMemory(ApplicationError):
    """The model needed more memory than its runner's budget."""

    status_code = 503
    code = "model_out_of_memory"


class ModelTimeout(ApplicationError):
    """The model's runner did not answer within the time limit; it was stopped and restarted."""

    status_code = 504
    code = "model_timeout"


class ArtifactMissing(Unavailable):
    """The model's file is not in this node's artifact store (a lost volume, an unsynced node):
    the node cannot serve it, the model is not wrong."""

    code = "artifact_missing"


class ArtifactStoreUnwritable(Unavailable):
    """A file of the store cannot be changed (read-only or failing volume)."""

    code = "artifact_store_unwritable"
