// OpenAI Chat Completions tool calling through the openai npm package.
// client.chat.completions.stream(...).finalChatCompletion() throws on a
// missing finish_reason or role and on tool-call deltas without an id,
// type, name or arguments.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openai, UPSTREAMS, tag } from './helpers.mjs';

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather', description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  {
    type: 'function',
    function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
  },
];

const WEATHER = 'Weather in Paris? sim:tool get_weather {"city":"Paris"}';
const BOTH = 'Two things sim:tool get_weather {"city":"Paris"} sim:tool get_time {"tz":"CET"}';

function assertUsage(usage, what) {
  assert.ok(usage, `${what}: no usage`);
  assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0, `${what}: ${JSON.stringify(usage)}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${what}: total_tokens`);
}

// complete runs one chat completion, streamed through the SDK's stream
// helper (with usage) or not, and returns the (accumulated) completion and,
// when streamed, the tool-call events the helper emitted.
async function complete(streamed, params) {
  if (!streamed) {
    return { completion: await openai.chat.completions.create(params), doneCalls: null };
  }
  const stream = openai.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
  const doneCalls = [];
  stream.on('tool_calls.function.arguments.done', (e) => { doneCalls.push(e); });
  const completion = await stream.finalChatCompletion();
  return { completion, doneCalls };
}

function assertCalls(completion, doneCalls, want) {
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
  assert.equal(choice.message.role, 'assistant');
  const calls = choice.message.tool_calls ?? [];
  assert.deepEqual(calls.map((c) => c.type), want.map(() => 'function'));
  assert.deepEqual(calls.map((c) => c.function.name), want.map((w) => w.name));
  assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments)), want.map((w) => w.args));
  for (const c of calls) assert.match(c.id, /^call_/);
  assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'tool call ids repeat');
  if (doneCalls) {
    assert.deepEqual(doneCalls.map((e) => e.name), want.map((w) => w.name));
    assert.deepEqual(doneCalls.map((e) => e.arguments), calls.map((c) => c.function.arguments));
  }
  return calls;
}

for (const up of UPSTREAMS) {
  const model = up.openai;
  for (const streamed of [true, false]) {
    const mode = streamed ? 'stream' : 'non-stream';
    describe(`Chat tool calls over ${up.name} (${model}), ${mode}`, () => {
      it('a tool call and its result', async () => {
        const messages = [{ role: 'user', content: WEATHER }];
        const first = await complete(streamed, { model, messages, tools });
        const [call] = assertCalls(first.completion, first.doneCalls, [{ name: 'get_weather', args: { city: 'Paris' } }]);
        assertUsage(first.completion.usage, 'tool call');

        const result = tag('sunny');
        messages.push(first.completion.choices[0].message, { role: 'tool', tool_call_id: call.id, content: `18 degrees and ${result}` });
        const { completion } = await complete(streamed, { model, messages, tools });
        const choice = completion.choices[0];
        assert.equal(choice.finish_reason, 'stop', JSON.stringify(choice));
        assert.ok(!choice.message.tool_calls?.length, JSON.stringify(choice.message));
        assert.ok(choice.message.content?.length > 0, 'empty answer to the tool result');
        assertUsage(completion.usage, 'answer');
      });

      it('parallel calls', async () => {
        const { completion, doneCalls } = await complete(streamed, { model, messages: [{ role: 'user', content: BOTH }], tools });
        assertCalls(completion, doneCalls, [
          { name: 'get_weather', args: { city: 'Paris' } },
          { name: 'get_time', args: { tz: 'CET' } },
        ]);
      });

      it('parallel_tool_calls false keeps the first call', async () => {
        const { completion, doneCalls } = await complete(streamed, {
          model, messages: [{ role: 'user', content: BOTH }], tools, parallel_tool_calls: false,
        });
        assertCalls(completion, doneCalls, [{ name: 'get_weather', args: { city: 'Paris' } }]);
      });

      it('tool_choice required', async () => {
        const { completion, doneCalls } = await complete(streamed, {
          model, messages: [{ role: 'user', content: WEATHER }], tools, tool_choice: 'required',
        });
        assertCalls(completion, doneCalls, [{ name: 'get_weather', args: { city: 'Paris' } }]);
      });

      it('tool_choice naming a function', async () => {
        const { completion, doneCalls } = await complete(streamed, {
          model, messages: [{ role: 'user', content: BOTH }], tools,
          tool_choice: { type: 'function', function: { name: 'get_time' } },
        });
        assertCalls(completion, doneCalls, [{ name: 'get_time', args: { tz: 'CET' } }]);
      });

      it('tool_choice none', async () => {
        const prompt = `just talk ${tag()}`;
        const { completion } = await complete(streamed, {
          model, messages: [{ role: 'user', content: prompt }], tools, tool_choice: 'none',
        });
        const choice = completion.choices[0];
        assert.equal(choice.finish_reason, 'stop', JSON.stringify(choice));
        assert.ok(!choice.message.tool_calls?.length, JSON.stringify(choice.message));
        assert.ok(choice.message.content.includes(prompt), choice.message.content);
        assertUsage(completion.usage, 'tool_choice none');
      });

      it('plain text with tools offered', async () => {
        const prompt = `no tools needed ${tag()} sim:long 8`;
        const { completion } = await complete(streamed, { model, messages: [{ role: 'user', content: prompt }], tools });
        const choice = completion.choices[0];
        assert.equal(choice.finish_reason, 'stop', JSON.stringify(choice));
        assert.ok(!choice.message.tool_calls?.length, JSON.stringify(choice.message));
        assert.ok(choice.message.content.includes(prompt.replace(' sim:long 8', '')), choice.message.content);
        assert.match(completion.id, /^chatcmpl-/);
        assert.equal(completion.object, 'chat.completion');
        assert.equal(completion.model, model);
      });
    });
  }
}

for (const up of UPSTREAMS) {
  describe(`Chat reasoning over ${up.name} (${up.thinking})`, () => {
    it('stream: reasoning_content deltas before the content, not in it', async () => {
      const prompt = `ponder ${tag('think')}`;
      const stream = openai.chat.completions.stream({
        model: up.thinking, messages: [{ role: 'user', content: `${prompt} sim:think` }],
        stream_options: { include_usage: true },
      });
      let reasoning = '';
      let firstContent = -1;
      let lastReasoning = -1;
      let n = 0;
      stream.on('chunk', (chunk) => {
        const delta = chunk.choices[0]?.delta ?? {};
        if (delta.reasoning_content) { reasoning += delta.reasoning_content; lastReasoning = n; }
        if (delta.content && firstContent < 0) firstContent = n;
        n++;
      });
      const completion = await stream.finalChatCompletion();
      const choice = completion.choices[0];
      assert.equal(choice.finish_reason, 'stop');
      assert.ok(choice.message.content.includes(prompt), choice.message.content);
      assert.ok(reasoning.length > 0, 'no reasoning_content deltas');
      assert.ok(!choice.message.content.includes(reasoning), 'the reasoning leaked into the content');
      assert.ok(lastReasoning < firstContent, `reasoning chunk ${lastReasoning} after content chunk ${firstContent}`);
      assertUsage(completion.usage, 'reasoning');
    });
  });
}
