"""What the accounts feature announces, so other features can act without auth knowing them.

``account_deleted`` is sent with the app as sender and ``user_id=`` while an account is
being deleted, before its row goes; a receiver that raises stops the deletion. Connect one
for an app with ``account_deleted.connect(receiver, app)``, as with Flask's own signals.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()
account_deleted = signals.signal("account-deleted")
