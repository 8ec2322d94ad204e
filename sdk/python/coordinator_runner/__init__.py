"""Local model runner for CrunchDAO-style Python models.

Serves one participant model over the model-runner protocol
(``dynamic_subclass.DynamicSubclassService`` plus ``grpc.health.v1``) so the
coordinator can call it exactly as CrunchDAO's orchestrator would. Depends
only on ``grpcio`` and ``protobuf`` (Debian: python3-grpcio python3-protobuf).

Run it with ``python3 -m coordinator_runner --help``.
"""

__all__ = ["variant", "loader", "server"]

VERSION = "1"
