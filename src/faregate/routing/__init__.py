"""Routing: learn from recorded outcomes which model (or cascade) each request needs.

Modules, one job each (imports flow down this list):

- ``estimate``    the one estimate of a request's tokens, p95 latency and cost per model
- ``constraints`` a request's constraints from its body, headers, route and task defaults
- ``data``        routing-outcomes JSONL rows and dense outcome tables, k folds
- ``features``    ``extract(messages, tools, response_format, task) -> RequestFeatures``
- ``embed``       ``Embedder.embed(texts)``: hashed n-grams (default), MiniLM (``minilm``, extra ``embed``)
- ``predictors``  kNN / logistic predictors of per-plan quality; per-model cost model
- ``tune``        kNN settings by inner cross-validation
- ``cascade``     plans (``Arm``), judges (agreement, JSON, learned scorer), offline simulation
- ``scorer``      the learned (prompt, answer) judge
- ``model``       ``RouterModel``: fit / save / load / predict / candidates / accept
- ``plan``        ``Plan``, the one plan type (``as_dict``: the body of ``POST /v1/route``)
- ``policy``      ``choose(candidates, min_quality, max_latency_ms, max_cost_usd) -> Plan``
- ``sources``     a route's router source (candidates, live cascade judges) and calibration
- ``planner``     ``plan(route, request, stats, catalogue) -> Plan``, pure; ``Planner`` loads them once
- ``metrics``     AIQ, cost to match, APGR, CPT
- ``evaluate``    cross-validation and train/test sweeps; ``commands``: train, eval, route
"""
