// Anthropic Messages API through the @anthropic-ai/sdk npm package.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { anthropic, UPSTREAMS, tag, upstreamChat, assertTokenCounts } from './helpers.mjs';

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const timeTool = {
  name: 'get_time',
  description: 'Current time in a time zone',
  input_schema: { type: 'object', properties: { tz: { type: 'string' } } },
};

function textOf(message) {
  return message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

function assertMessage(m, model) {
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.model, model);
  assertTokenCounts(m.usage, 'input_tokens', 'output_tokens', 'usage');
}

// streamMessage runs client.messages.stream and returns the final message,
// the text of the text events and the raw event types.
async function streamMessage(params) {
  const stream = anthropic.messages.stream(params);
  let streamed = '';
  const types = [];
  stream.on('text', (delta) => { streamed += delta; });
  stream.on('streamEvent', (e) => { types.push(e.type); });
  const final = await stream.finalMessage();
  assert.equal(types[0], 'message_start', types.join(' '));
  assert.equal(types.at(-1), 'message_stop', types.join(' '));
  assert.equal(types.filter((t) => t === 'message_delta').length, 1, types.join(' '));
  return { final, streamed, types };
}

for (const up of UPSTREAMS) {
  const model = up.anthropic;
  const echo = up.anthropicEcho; // the model the name resolved to (helpers.mjs)
  describe(`Messages over ${up.name} (${model})`, () => {
    it('non-stream', async () => {
      const prompt = `Grüße aus Köln, 你好 😀 — say it back ${tag()}`;
      const m = await anthropic.messages.create({
        model, max_tokens: 1024, messages: [{ role: 'user', content: prompt }],
      });
      assertMessage(m, echo);
      assert.equal(m.stop_reason, 'end_turn');
      assert.equal(m.content[0].type, 'text');
      assert.ok(textOf(m).includes(prompt), `text ${JSON.stringify(textOf(m))} lacks the prompt`);
    });

    it('stream: finalMessage() text equals the streamed text', async () => {
      const marker = tag('stream');
      const { final, streamed, types } = await streamMessage({
        model, max_tokens: 1024, messages: [{ role: 'user', content: `stream me ${marker} sim:long 12` }],
      });
      assertMessage(final, echo);
      assert.equal(final.stop_reason, 'end_turn');
      assert.ok(streamed.includes(`stream me ${marker}`), `streamed ${JSON.stringify(streamed)}`);
      assert.equal(textOf(final), streamed);
      const deltas = types.filter((t) => t === 'content_block_delta').length;
      assert.ok(deltas >= 12, `only ${deltas} content_block_delta events for 12 upstream deltas`);
    });

    it('system blocks reach the upstream', async () => {
      const sys1 = tag('sysone');
      const sys2 = tag('systwo');
      const marker = tag('user');
      const m = await anthropic.messages.create({
        model, max_tokens: 1024,
        system: [
          { type: 'text', text: `You are terse. ${sys1}`, cache_control: { type: 'ephemeral' } },
          { type: 'text', text: `Answer in English. ${sys2}` },
        ],
        messages: [{ role: 'user', content: [{ type: 'text', text: `hello ${marker}` }] }],
      });
      assertMessage(m, echo);
      assert.equal(m.stop_reason, 'end_turn');
      assert.ok(textOf(m).includes(`hello ${marker}`), textOf(m));
      const ask = await upstreamChat(marker);
      if (ask) {
        assert.ok(ask.text.includes(sys1), 'the first system block did not reach the upstream');
        assert.ok(ask.text.includes(sys2), 'the second system block did not reach the upstream');
      }
    });

    for (const streamFirst of [true, false]) {
      it(`tool_use and tool_result round trip (${streamFirst ? 'streamed tool_use, plain answer' : 'plain tool_use, streamed answer'})`, async () => {
        const params = {
          model, max_tokens: 1024,
          system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
          messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris? sim:tool get_weather {"city":"Paris"}' }] }],
          tools: [weatherTool, timeTool],
        };
        const first = streamFirst
          ? (await streamMessage(params)).final
          : await anthropic.messages.create(params);
        assertMessage(first, echo);
        assert.equal(first.stop_reason, 'tool_use', JSON.stringify(first.content));
        const uses = first.content.filter((b) => b.type === 'tool_use');
        assert.equal(uses.length, 1, JSON.stringify(first.content));
        const [use] = uses;
        assert.match(use.id, /^toolu_/);
        assert.equal(use.name, 'get_weather');
        assert.deepEqual(use.input, { city: 'Paris' });
        assert.equal(first.content.at(-1).type, 'tool_use', 'content after the tool_use block');

        const result = tag('sunny');
        params.messages.push(
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: `18 degrees and ${result}` }] },
        );
        const final = streamFirst
          ? await anthropic.messages.create(params)
          : (await streamMessage(params)).final;
        assertMessage(final, echo);
        assert.equal(final.stop_reason, 'end_turn', JSON.stringify(final.content));
        assert.ok(final.content.length > 0);
        assert.equal(final.content[0].type, 'text');
        assert.ok(textOf(final).length > 0);
        assert.ok(!final.content.some((b) => b.type === 'tool_use'), JSON.stringify(final.content));
        const ask = await upstreamChat(result);
        if (ask) assert.ok(ask.text.includes('Paris'), 'the tool_use turn did not reach the upstream');
      });
    }

    it('stream with thinking: the thinking block first, then the text', async () => {
      const marker = tag('think');
      const { final, streamed } = await streamMessage({
        model, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 },
        messages: [{ role: 'user', content: `ponder ${marker} sim:think` }],
      });
      assertMessage(final, echo);
      assert.equal(final.stop_reason, 'end_turn');
      assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text']);
      assert.ok(final.content[0].thinking.length > 0, 'empty thinking block');
      assert.equal(typeof final.content[0].signature, 'string');
      assert.ok(streamed.includes(`ponder ${marker}`), `streamed ${JSON.stringify(streamed)}`);
      assert.equal(textOf(final), streamed);
      assert.ok(!streamed.includes(final.content[0].thinking), 'the thinking leaked into the text');
    });

    it('thinking and tool_use, then tool_result with the thinking block sent back', async () => {
      const params = {
        model, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 }, tools: [weatherTool],
        messages: [{ role: 'user', content: 'Weather in Paris? sim:think sim:tool get_weather {"city":"Paris"}' }],
      };
      const { final: first } = await streamMessage(params);
      assert.equal(first.stop_reason, 'tool_use', JSON.stringify(first.content));
      assert.deepEqual(first.content.map((b) => b.type).filter((t) => t !== 'text'), ['thinking', 'tool_use']);
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.deepEqual(use.input, { city: 'Paris' });
      const result = tag('sunny');
      params.messages.push(
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: `18 degrees and ${result}` }] },
      );
      const { final } = await streamMessage(params);
      assertMessage(final, echo);
      assert.equal(final.stop_reason, 'end_turn', JSON.stringify(final.content));
      assert.ok(textOf(final).length > 0, JSON.stringify(final.content));
    });

    it('parallel tool_use blocks', async () => {
      const { final } = await streamMessage({
        model, max_tokens: 1024, tools: [weatherTool, timeTool],
        messages: [{ role: 'user', content: 'Two things sim:tool get_weather {"city":"Paris"} sim:tool get_time {"tz":"CET"}' }],
      });
      assert.equal(final.stop_reason, 'tool_use');
      const uses = final.content.filter((b) => b.type === 'tool_use');
      assert.deepEqual(uses.map((u) => u.name), ['get_weather', 'get_time']);
      assert.deepEqual(uses.map((u) => u.input), [{ city: 'Paris' }, { tz: 'CET' }]);
      assert.notEqual(uses[0].id, uses[1].id);
    });
  });
}

describe('Messages utilities', () => {
  it('count_tokens', async () => {
    const short = await anthropic.messages.countTokens({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'How many tokens is this?' }],
    });
    assert.ok(Number.isInteger(short.input_tokens) && short.input_tokens > 0, JSON.stringify(short));
    const long = await anthropic.messages.countTokens({
      model: 'claude-sonnet-4-5',
      system: 'You are terse.',
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'How many tokens is this? '.repeat(20) }],
    });
    assert.ok(long.input_tokens > short.input_tokens, `${long.input_tokens} <= ${short.input_tokens}`);
  });

  it('the Anthropic model list', async () => {
    const ids = [];
    // A small page size makes the SDK follow the has_more / last_id cursor.
    for await (const m of anthropic.models.list({ limit: 5 })) {
      assert.equal(m.type, 'model', JSON.stringify(m));
      assert.ok(m.display_name, `model ${m.id} has no display_name`);
      assert.ok(!Number.isNaN(Date.parse(m.created_at)), `model ${m.id} created_at ${m.created_at}`);
      ids.push(m.id);
    }
    assert.equal(new Set(ids).size, ids.length, 'a model was listed twice across pages');
    assert.ok(ids.length > 5, `only ${ids.length} models`);
    assert.ok(ids.some((id) => id.startsWith('claude-')), `no claude- model in ${ids}`);
    assert.ok(ids.some((id) => id.startsWith('gemini-')), `no gemini- model in ${ids}`);
    const one = await anthropic.models.retrieve('claude-sonnet-4-5');
    assert.equal(one.id, 'claude-sonnet-4-5');
    assert.equal(one.type, 'model');
  });

  it('errors use the Anthropic envelope', async () => {
    const bad = anthropic.withOptions({ apiKey: 'sk-wrong' });
    await assert.rejects(
      bad.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
      (err) => {
        assert.equal(err.status, 401);
        assert.equal(err.error?.type, 'error', JSON.stringify(err.error));
        assert.ok(err.error?.error?.type, JSON.stringify(err.error));
        return true;
      },
    );
  });
});
