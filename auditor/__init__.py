"""eks-upgrade-auditor: audit EndpointSlices, Endpoints and EKS state around an EKS upgrade."""
from __future__ import annotations

__version__ = "0.1.0"
TOOL_NAME = "eks-upgrade-auditor"
