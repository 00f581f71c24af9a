"""faregate: an OpenAI-compatible LLM gateway that routes each request to the cheapest model that meets its bar."""

__version__ = "0.1.0"
