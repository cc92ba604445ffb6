"""Floor 2 of eventlab: how bytes reach disk or object storage.

``durable`` (atomic writes, one fsync policy) is here; the commit protocol and the storage
layout move here next (see ../shared ARCHITECTURE and CONTRIBUTING's layout).
"""
