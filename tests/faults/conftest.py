"""The fault suite (`make test-faults`): real processes killed, stopped, locked out of their
database or disk. Every module here is marked `faults` (pytestmark); `make test` leaves them out."""
