"""Guardrails: detect and mask or block sensitive text in requests and answers.

Pure text processing (no I/O, except ``remote``): ``pii`` finds values by class with checksums
where the class has one, ``masking`` swaps them for placeholders and back, ``window`` does the
same over a stream in bounded windows so a value split across chunks is still caught,
``json_text`` does all of it inside JSON (tool-call arguments) without breaking it, and ``walk``
knows where the texts of a request or an answer are (messages, tool calls, Responses items).
"""
