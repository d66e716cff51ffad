"""What the registry tells the apps built on it, so that it never imports them.

`alias_moved` is sent (synchronously, inside alias_set) after an alias points at a new version.
A receiver moves what follows the alias (deployments do, in deployments.receivers) and raises
an ApplicationError to refuse the move, after putting back the alias and what it moved itself
(alias_set puts the alias back too, and raises that error). Its return value is how many things it moved."""

from django.dispatch import Signal

alias_moved = Signal()  # sender=ModelAlias; alias=, previous= (the version it pointed at, or None)
