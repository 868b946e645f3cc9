// OpenAI Responses API through the openai npm package.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openai, UPSTREAMS, tag, upstreamChat, assertTokenCounts } from './helpers.mjs';

// messageText joins the output_text parts of a response's message items.
function messageText(response) {
  return response.output
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content)
    .filter((c) => c.type === 'output_text')
    .map((c) => c.text)
    .join('');
}

function assertResponsesUsage(usage, what) {
  assertTokenCounts(usage, 'input_tokens', 'output_tokens', what);
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens, `${what}: total_tokens`);
}

// streamResponse runs client.responses.stream and returns the accumulated
// final response, the text of the output_text deltas and the event types.
async function streamResponse(params) {
  const stream = openai.responses.stream(params);
  let streamed = '';
  const events = [];
  stream.on('response.output_text.delta', (e) => { streamed += e.delta; });
  stream.on('event', (e) => { events.push(e); });
  const final = await stream.finalResponse();
  return { final, streamed, events };
}

// assertEventOrder checks the lifecycle framing the SDK does not: created
// first, completed last, sequence numbers increasing, one id throughout.
function assertEventOrder(events, final) {
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'response.created', `first event: ${types.join(' ')}`);
  assert.equal(types.at(-1), 'response.completed', `last event: ${types.join(' ')}`);
  assert.equal(types.filter((t) => t === 'response.completed').length, 1, types.join(' '));
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].sequence_number > events[i - 1].sequence_number,
      `sequence_number ${events[i].sequence_number} after ${events[i - 1].sequence_number} (${types[i]})`);
  }
  assert.equal(events[0].response.id, final.id, 'response.created and the final response have different ids');
  assert.equal(events[0].response.status, 'in_progress');
}

for (const up of UPSTREAMS) {
  const model = up.openai;
  describe(`Responses over ${up.name} (${model})`, () => {
    it('non-stream', async () => {
      const prompt = `Grüße aus Köln, 你好 😀 — say it back ${tag()}`;
      const r = await openai.responses.create({ model, input: prompt });
      assert.equal(r.object, 'response');
      assert.match(r.id, /^resp_/);
      assert.equal(r.status, 'completed');
      assert.ok(r.output_text.includes(prompt), `output_text ${JSON.stringify(r.output_text)} lacks the prompt`);
      assert.equal(messageText(r), r.output_text);
      const msg = r.output.find((o) => o.type === 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.status, 'completed');
      assert.ok(msg.id, 'message item without id');
      assertResponsesUsage(r.usage, 'non-stream');
    });

    it('stream: finalResponse().output_text equals the streamed text', async () => {
      const marker = tag('stream');
      const { final, streamed, events } = await streamResponse({ model, input: `stream me ${marker} sim:long 12` });
      assert.ok(streamed.includes(`stream me ${marker}`), `streamed ${JSON.stringify(streamed)}`);
      assert.equal(final.output_text, streamed);
      assert.equal(messageText(final), streamed);
      assert.equal(final.status, 'completed');
      assertEventOrder(events, final);
      const deltas = events.filter((e) => e.type === 'response.output_text.delta');
      assert.ok(deltas.length >= 12, `only ${deltas.length} output_text deltas for 12 upstream deltas`);
      const done = events.filter((e) => e.type === 'response.output_text.done');
      assert.equal(done.length, 1);
      assert.equal(done[0].text, streamed);
      const itemDone = events.find((e) => e.type === 'response.output_item.done' && e.item.type === 'message');
      assert.ok(itemDone, 'no response.output_item.done for the message');
      assert.equal(itemDone.item.content[0].text, streamed);
      assertResponsesUsage(final.usage, 'stream');
    });

    it('stream: reasoning comes first and stays out of output_text', async () => {
      const marker = tag('think');
      const { final, streamed, events } = await streamResponse({ model: up.thinking, input: `ponder ${marker} sim:think` });
      assertEventOrder(events, final);
      assert.deepEqual(final.output.map((o) => o.type), ['reasoning', 'message']);
      const reasoning = final.output[0];
      const reasoningText = [...(reasoning.summary ?? []), ...(reasoning.content ?? [])].map((p) => p.text).join('');
      assert.ok(reasoningText.length > 0, `empty reasoning item ${JSON.stringify(reasoning)}`);
      assert.ok(streamed.includes(`ponder ${marker}`), `streamed ${JSON.stringify(streamed)}`);
      assert.equal(final.output_text, streamed);
      assert.ok(!streamed.includes(reasoningText), 'the reasoning leaked into output_text');
      const firstReasoning = events.findIndex((e) => /^response\.reasoning_(summary_)?text\.delta$/.test(e.type));
      const firstText = events.findIndex((e) => e.type === 'response.output_text.delta');
      assert.ok(firstReasoning >= 0 && firstReasoning < firstText, `reasoning delta at ${firstReasoning}, text delta at ${firstText}`);
      assertResponsesUsage(final.usage, 'reasoning stream');
    });

    it('stream: function call, then its output continued by previous_response_id', async () => {
      const tools = [{
        type: 'function', name: 'get_weather', description: 'Current weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      }];
      const first = await streamResponse({ model, tools, input: 'Weather in Paris? sim:tool get_weather {"city":"Paris"}' });
      assertEventOrder(first.events, first.final);
      const calls = first.final.output.filter((o) => o.type === 'function_call');
      assert.equal(calls.length, 1, JSON.stringify(first.final.output));
      const [call] = calls;
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
      assert.match(call.call_id, /^call_/);
      assert.equal(call.status, 'completed');
      assert.equal(first.final.output_text, '');
      const argsDone = first.events.find((e) => e.type === 'response.function_call_arguments.done');
      assert.ok(argsDone, 'no response.function_call_arguments.done');
      assert.equal(argsDone.arguments, call.arguments);
      const argsDeltas = first.events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join('');
      assert.equal(argsDeltas, call.arguments);

      const result = tag('sunny');
      const second = await streamResponse({
        model, tools, previous_response_id: first.final.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: `18 degrees and ${result}` }],
      });
      assertEventOrder(second.events, second.final);
      assert.equal(second.final.status, 'completed');
      assert.ok(!second.final.output.some((o) => o.type === 'function_call'), JSON.stringify(second.final.output));
      assert.ok(second.streamed.length > 0, 'empty answer to the function output');
      assert.equal(second.final.output_text, second.streamed);
      const ask = await upstreamChat(result);
      if (ask) assert.ok(ask.text.includes('Paris'), 'the function call turn did not reach the upstream');
    });

    it('a stored conversation continued by previous_response_id', async () => {
      const word = tag('ocelot');
      const first = await openai.responses.create({ model, input: `remember the word ${word}` });
      assert.ok(first.output_text.includes(word), `first: ${first.output_text}`);

      const q = `what was the word? ${tag('q')}`;
      const second = await openai.responses.create({ model, previous_response_id: first.id, input: q });
      assert.ok(second.output_text.includes(q), `second: ${second.output_text}`);
      assert.equal(second.previous_response_id, first.id);
      assert.notEqual(second.id, first.id);
      const ask = await upstreamChat(q.split(' ').at(-1));
      if (ask) assert.ok(ask.text.includes(word), 'the continued conversation did not carry the first turn upstream');

      const got = await openai.responses.retrieve(second.id);
      assert.equal(got.id, second.id);
      assert.equal(got.output_text, second.output_text);
      assert.equal(got.previous_response_id, first.id);

      // A streamed third turn continues the second.
      const q3 = `and the question before? ${tag('q')}`;
      const third = await streamResponse({ model, previous_response_id: second.id, input: q3 });
      assert.ok(third.streamed.includes(q3), `third: ${third.streamed}`);
      assert.equal(third.final.output_text, third.streamed);
      assert.equal(third.final.previous_response_id, second.id);
      assertEventOrder(third.events, third.final);
      const ask3 = await upstreamChat(q3.split(' ').at(-1));
      if (ask3) {
        assert.ok(ask3.text.includes(word), 'the third turn lost the first');
        assert.ok(ask3.text.includes(q.split(' ').at(-1)), 'the third turn lost the second');
      }

      // The stored stream replays through the same helper.
      const replay = await streamResponse({ response_id: third.final.id });
      assert.equal(replay.final.id, third.final.id);
      assert.equal(replay.final.output_text, third.streamed);
      assert.equal(replay.streamed, third.streamed);
      assertEventOrder(replay.events, replay.final);
    });
  });
}
