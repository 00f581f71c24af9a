# faregate serve --config examples/fake-providers.yaml   (after starting the fake providers it lists)
# Embeddings from two providers (OpenAI's wire and Gemini's) through one OpenAI client, and a
# legacy text completion.
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.getenv("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.getenv("FAREGATE_KEY", "fg-demo-key"),
)
for model in ("fake-embed", "fake-gemini-embed"):
    raw = client.embeddings.with_raw_response.create(model=model, input=["first text", "second text"], dimensions=4)
    res = raw.parse()
    print(
        f"{model}: {len(res.data)} vectors of {len(res.data[0].embedding)}, cost ${raw.headers['x-faregate-cost-usd']}"
    )
done = client.completions.create(model="fake-openai", prompt="Once upon a time", max_tokens=20)
print("completion:", done.choices[0].text)
