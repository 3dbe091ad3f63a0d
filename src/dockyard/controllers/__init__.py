"""Controllers and the scheduler: pure planners over typed views, executors at the edges.

Each ``*_plan`` module holds a pure function ``plan_x(desired, observed, now) -> Plan`` that
reproduces the decision logic of the matching kube-controller-manager / kube-scheduler code
(see reference/k8s-semantics.md); a thin executor appends the plan's decisions as events.
"""
