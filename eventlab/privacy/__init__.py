"""Crypto-shredding: personal payload columns encrypted per subject; ``forget`` destroys a key.

See :mod:`eventlab.privacy.forget` (what declaring and forgetting do), :mod:`.codec` (the
ciphertext format, ``"[redacted]"``), :mod:`.keys` (the key store) and :mod:`.config`
(``_privacy.json``). Needs the optional extra: ``pip install "eventlab[crypto]"``.
"""

from eventlab.privacy.forget import ForgetResult, declare_personal, forget
from eventlab.storage.privacy.codec import REDACTED
from eventlab.storage.privacy.config import PrivacyConfig, load_config, read_audit
from eventlab.storage.privacy.keys import key_id

__all__ = [
    "REDACTED",
    "ForgetResult",
    "PrivacyConfig",
    "declare_personal",
    "forget",
    "key_id",
    "load_config",
    "read_audit",
]
