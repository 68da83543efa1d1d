"""The labelproof oracle service: follows the chain, takes reveals, scores, proposes payouts.

``serve(OracleConfig(...))`` runs it; ``python -m labelproof.oracle serve --help`` from a shell.
"""

from __future__ import annotations

from labelproof.oracle.service import OracleConfig, OracleService, approve_repropose, serve

__all__ = ["OracleConfig", "OracleService", "approve_repropose", "serve"]
