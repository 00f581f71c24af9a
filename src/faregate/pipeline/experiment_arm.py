"""Applying an experiment's arm in the routing step: swap the policy before planning.

``prepare`` turns arms with a router model file into synthetic routes of the planner (loaded
once at start-up); ``apply`` then tells the routing step which route to plan, or which fixed
model to call, for one request, and records the experiment and arm on the context.
"""

from __future__ import annotations

from ..config import GatewayConfig
from ..routing.experiments import Assignment
from ..routing.planner import Planner
from ..routing.sources import RouterSource
from .context import RequestContext


def synthetic_route(experiment: str, arm: str) -> str:
    return f"{experiment}:{arm}"


def prepare(config: GatewayConfig, planner: Planner) -> None:
    """A route per router-model arm: the target route with that router file."""
    for e in config.experiments:
        base = planner.routes.get(e.applies_to)
        for a in e.arms:
            if a.router_model is None or base is None:
                continue
            name = synthetic_route(e.name, a.name)
            planner.routes[name] = base.model_copy(update={"name": name, "router_model": a.router_model})
            planner.sources = {**planner.sources, name: RouterSource.load(a.router_model)}


def apply(ctx: RequestContext, assignment: Assignment, route: str | None) -> tuple[str | None, str | None]:
    """(route to plan, fixed model) for this request's arm; records the arm on ``ctx``."""
    arm = assignment.arm
    ctx.experiment, ctx.experiment_arm = assignment.experiment, arm.name
    ctx.response_headers["x-faregate-experiment"] = f"{assignment.experiment}:{arm.name}"
    if arm.model is not None:
        return None, arm.model
    if arm.route is not None:
        return arm.route, None
    if arm.router_model is not None:
        return synthetic_route(assignment.experiment, arm.name), None
    if arm.constraints:
        # Defaults: what the request sets itself still wins.
        ctx.request.routing = {**arm.constraints, **(ctx.request.routing or {})}
    return route, None
