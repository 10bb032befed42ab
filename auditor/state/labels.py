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

# The AWS Load Balancer Controller (kubernetes-sigs.github.io/aws-load-balancer-controller: ingress and service
# annotations, pod readiness gate).
ALB_CONTROLLER = "ingress.k8s.aws/alb"
ANN_INGRESS_CLASS = "kubernetes.io/ingress.class"
ANN_ALB_TARGET_TYPE = "alb.ingress.kubernetes.io/target-type"
ANN_ALB_TG_ATTRIBUTES = "alb.ingress.kubernetes.io/target-group-attributes"
ANN_LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
ANN_NLB_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
ANN_NLB_TG_ATTRIBUTES = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
LABEL_READINESS_GATE_INJECT = "elbv2.k8s.aws/pod-readiness-gate-inject"
READINESS_GATE_PREFIX = "target-health.elbv2.k8s.aws/"
ATTR_DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
LABEL_EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
