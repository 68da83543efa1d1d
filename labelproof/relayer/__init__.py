"""The relayer of signed attestations: durable intake, policy, a persisted batch sender.

``intake`` checks one signature, ``reads`` asks the chain about it (grouped with the other
requests in flight), ``policy`` says whom the relayer pays for, ``store`` keeps everything in
SQLite, ``service`` runs the batches (``wire``: their calldata and receipts), ``api`` serves
HTTP. ``python -m labelproof.relayer serve`` and ``labelproof relay serve`` run it.
"""

from labelproof.relayer.intake import AttestationIn, RelayError
from labelproof.relayer.service import Relay, RelayConfig

__all__ = ["AttestationIn", "Relay", "RelayConfig", "RelayError"]
