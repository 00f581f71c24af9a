"""LangChain's ChatOpenAI pointed at faregate: nothing changes but the base URL and the key.

pip install langchain-openai
faregate serve --config examples/fake-providers.yaml
python examples/langchain_chat.py
"""

import os
import sys

try:
    from langchain_openai import ChatOpenAI
except ImportError:
    print("This example needs LangChain's OpenAI integration: pip install langchain-openai")
    sys.exit(0)

llm = ChatOpenAI(
    base_url=os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.environ.get("FAREGATE_KEY", "fg-demo-key"),
    model="auto",  # faregate picks the model; or name one, e.g. "fake-openai"
    # Routing constraints ride along in the request body.
    extra_body={"faregate": {"task": "chat", "min_quality": 0.8}},
)
msg = llm.invoke("Give me one tip for writing clear commit messages.")
print(msg.content)
print("answered by:", msg.response_metadata.get("model_name"))
