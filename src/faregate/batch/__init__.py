"""The batch tier: the OpenAI Batch API in front (files and batches), jobs kept in the
request-log database, each line run through the normal Gateway pipeline."""
