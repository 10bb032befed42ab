"""Well-known label and annotation keys, and the controllers' names, as the Kubernetes, EKS and Karpenter
controllers write them (and the tool's own `upgrade-auditor.io/` annotations). The one place each string is
spelled; reports read it too."""
from __future__ import annotations

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
ANN_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
ANN_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
ANN_LEADER = "control-plane.alpha.kubernetes.io/leader"
ANN_IGNORE = "upgrade-auditor.io/ignore"
ANN_IGNORE_REASON = "upgrade-auditor.io/ignore-reason"
CONTROLLER = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_NODEGROUP = "eks.amazonaws.com/nodegroup"
LABEL_NODEPOOL = "karpenter.sh/nodepool"
LABEL_COMPUTE_TYPE = "eks.amazonaws.com/compute-type"
