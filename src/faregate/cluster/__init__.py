"""A local fleet: N ``faregate serve`` replicas behind an nginx load balancer (``faregate cluster``)."""
