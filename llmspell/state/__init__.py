"""State: scoped JSON values in memory or a durable SQLite file, with backups.

``service.StateService`` is what the ``State`` global and other services use;
``store`` holds the backends, ``sqlite`` the safe file opening, ``backup`` backups.
"""
