-- The guardrail decisions of each request: "name:action:stage:classes" joined by ";"
-- (e.g. "pii-mask:mask:request:email,card"), never the matched text; NULL: no guardrail ran.
ALTER TABLE request_log ADD COLUMN guardrails TEXT;
