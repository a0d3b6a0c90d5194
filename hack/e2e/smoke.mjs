// Drives a deployed gateway with the official OpenAI SDK, as an application would:
//   node hack/e2e/smoke.mjs BASE_URL KEY [KEY...]
// For each key: list models, one completion, one stream; then a wrong key must get a 401.
// Exits non-zero on the first failure.
import OpenAI from 'openai';

const [baseURL, ...keys] = process.argv.slice(2);
if (!baseURL || keys.length === 0) {
  console.error('usage: node hack/e2e/smoke.mjs BASE_URL KEY [KEY...]');
  process.exit(2);
}
const MODEL = 'doubao-seed-2-0-lite-260215';

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

for (const [i, apiKey] of keys.entries()) {
  // The SDK's own retries would hide a flapping gateway; a smoke test wants the first answer.
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
  const models = await client.models.list();
  check(models.data.some((m) => m.id === MODEL), `key #${i + 1}: ${MODEL} is listed (${models.data.length} models)`);

  const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 32 });
  check(r.model === MODEL && (r.choices[0]?.message.content ?? '') !== '', `key #${i + 1}: completion answered by ${r.model}`);
  check((r.usage?.total_tokens ?? 0) > 0, `key #${i + 1}: usage reported (${r.usage?.total_tokens} tokens)`);

  const stream = await client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'Stream please' }] });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  check(text !== '', `key #${i + 1}: stream delivered ${text.length} characters`);
}

const wrong = new OpenAI({ baseURL, apiKey: 'th-not-a-real-key', maxRetries: 0 });
const status = await wrong.models.list().then(() => 200, (err) => err.status);
check(status === 401, `a wrong key gets 401 (got ${status})`);
console.log('smoke test passed');
