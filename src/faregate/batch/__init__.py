"""The batch tier: the OpenAI Batch API in front (files and batches), jobs kept in the
request-log database, run by the providers' batch APIs where they may be (``provider_run``) or
each line through the normal Gateway pipeline (``runner``)."""
