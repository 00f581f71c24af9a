# faregate serve --config examples/fake-providers.yaml   (after starting the fake providers it lists)
from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="fg-demo-key")
reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}])
print(reply.choices[0].message.content, "| answered by", reply.model)
