"""The relayer moved to the package labelproof.relayer; this name keeps old imports working."""

from labelproof.relayer import AttestationIn, Relay, RelayConfig, RelayError
from labelproof.relayer.api import create_app, serve

__all__ = ["AttestationIn", "Relay", "RelayConfig", "RelayError", "create_app", "serve"]
