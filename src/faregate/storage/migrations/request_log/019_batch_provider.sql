-- A batch run by a provider's own batch API (batch/provider_run.py): which provider batches hold
-- its lines, their ids and polling state, as JSON. Kept apart from ``job`` (the client's batch
-- object, whose status a cancel changes) so neither write overwrites the other; a restarted
-- gateway reads it and polls on instead of submitting the lines again.
ALTER TABLE batch_job ADD COLUMN provider_state TEXT;
