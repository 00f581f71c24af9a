# faregate serve --config examples/fake-providers.yaml   (after starting the fake providers it lists)
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.getenv("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.getenv("FAREGATE_KEY", "fg-demo-key"),
)
reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}])
print(reply.choices[0].message.content, "| answered by", reply.model)
