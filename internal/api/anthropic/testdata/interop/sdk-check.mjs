// Interop check of spark's Anthropic front-end with the official TS SDK.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';

const client = new Anthropic({ baseURL: process.env.BASE_URL, apiKey: 'sk-ant-test', maxRetries: 0 });
const model = 'spark-test-model';
const user = (t) => [{ role: 'user', content: t }];
const results = [];
async function check(name, fn) {
  try { await fn(); results.push(`ok   ${name}`); }
  catch (e) { results.push(`FAIL ${name}: ${e.stack || e}`); process.exitCode = 1; }
}

await check('create', async () => {
  const m = await client.messages.create({ model, max_tokens: 100, messages: user('text') });
  assert.equal(m.content[0].text, 'Hello world');
  assert.equal(m.stop_reason, 'end_turn');
  assert.ok(m.usage.input_tokens > 0);
});
await check('stream finalText', async () => {
  let deltas = '';
  const s = client.messages.stream({ model, max_tokens: 100, messages: user('text') });
  s.on('text', (d) => { deltas += d; });
  assert.equal(await s.finalText(), 'Hello world');
  const m = await s.finalMessage();
  assert.equal(deltas, 'Hello world');
  assert.equal(m.usage.output_tokens, 5);
  assert.ok(m.usage.input_tokens > 0);
});
await check('stream raw create', async () => {
  const s = await client.messages.create({ model, max_tokens: 100, messages: user('text'), stream: true });
  const types = [];
  for await (const ev of s) types.push(ev.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
});
await check('thinking', async () => {
  const s = client.messages.stream({ model, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: user('think') });
  let thinking = '';
  s.on('thinking', (d) => { thinking += d; });
  const m = await s.finalMessage();
  assert.equal(m.content[0].type, 'thinking');
  assert.equal(m.content[0].thinking, 'Hmm, let me see.');
  assert.equal(thinking, 'Hmm, let me see.');
  assert.equal(m.content[1].text, 'Answer.');
  // Round trip with the thinking block in history.
  const m2 = await client.messages.create({ model, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 },
    messages: [...user('think'), { role: 'assistant', content: m.content }, ...user('text')] });
  assert.equal(m2.content[0].text, 'Hello world');
});
await check('tool_use stream', async () => {
  const tools = [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const s = client.messages.stream({ model, max_tokens: 100, tools, messages: user('tool') });
  let partial = '';
  s.on('inputJson', (d) => { partial += d; });
  const m = await s.finalMessage();
  assert.equal(m.stop_reason, 'tool_use');
  const calls = m.content.filter((b) => b.type === 'tool_use');
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[0].input, { city: 'Paris' });
  assert.deepEqual(calls[1].input, { city: 'Lyon' });
  assert.match(calls[0].id, /^toolu_[A-Za-z0-9_-]+$/);
  const m2 = await client.messages.create({ model, max_tokens: 100, tools, messages: [...user('tool'),
    { role: 'assistant', content: m.content },
    { role: 'user', content: calls.map((c) => ({ type: 'tool_result', tool_use_id: c.id, content: 'sunny' })) }] });
  assert.equal(m2.content[0].text, 'after tools');
});
await check('stop_sequences', async () => {
  const m = await client.messages.stream({ model, max_tokens: 100, stop_sequences: ['STOP'], messages: user('stop') }).finalMessage();
  assert.equal(m.content[0].text, 'before ');
  assert.equal(m.stop_reason, 'stop_sequence');
  assert.equal(m.stop_sequence, 'STOP');
});
await check('429', async () => {
  try { await client.messages.create({ model, max_tokens: 100, messages: user('ratelimit') }); assert.fail('no error'); }
  catch (e) {
    assert.ok(e instanceof Anthropic.RateLimitError, String(e));
    assert.equal(e.status, 429);
    assert.equal(e.error.error.type, 'rate_limit_error');
    assert.equal(e.headers.get('retry-after'), '2');
    assert.ok(e.requestID);
  }
});
await check('mid-stream error', async () => {
  try { await client.messages.stream({ model, max_tokens: 100, messages: user('midfail') }).finalMessage(); assert.fail('no error'); }
  catch (e) {
    assert.ok(e instanceof Anthropic.APIError, String(e));
    assert.equal(e.error.error.type, 'overloaded_error');
  }
});
await check('400 envelope', async () => {
  try { await client.messages.create({ model, messages: user('text') }); assert.fail('no error'); }
  catch (e) {
    assert.ok(e instanceof Anthropic.BadRequestError, String(e));
    assert.match(e.message, /max_tokens: Field required/);
  }
});
await check('count_tokens', async () => {
  const r = await client.messages.countTokens({ model, messages: user('foo'), system: 'sys' });
  assert.ok(r.input_tokens > 0);
});
await check('beta client', async () => {
  const m = await client.beta.messages.create({ model, max_tokens: 100, messages: user('text'), betas: ['claude-code-20250219', 'made-up-beta-2099'] });
  assert.equal(m.content[0].text, 'Hello world');
  const r = await client.beta.messages.countTokens({ model, messages: user('foo'), betas: ['token-counting-2024-11-01'] });
  assert.ok(r.input_tokens > 0);
});
console.log(results.join('\n'));
