// Structured outputs through the client libraries people build on: the AI
// SDK's generateObject (chat, Responses and Anthropic providers), the
// openai package's parse helpers with zod, and LangChain's
// withStructuredOutput. The simulated model answers the object that the
// prompt's `sim:json` gives, in prose and a ```json fence; spark extracts
// and validates it, and the libraries parse exactly that object.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { generateObject, streamObject } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { ChatOpenAI } from '@langchain/openai';
import { openai, BASE_URL, API_KEY, UPSTREAMS, tag, upstreamChat } from './helpers.mjs';

const person = z.object({
  name: z.string(),
  age: z.number().int(),
  languages: z.array(z.string()),
});

const ADA = { name: 'Ada Lovelace', age: 36, languages: ['English', 'French'] };
const prompt = (marker) => `Describe Ada Lovelace (${marker}). sim:json ${JSON.stringify(ADA)}`;

const aiOpenAI = createOpenAI({ baseURL: `${BASE_URL}/v1`, apiKey: API_KEY });
const aiAnthropic = createAnthropic({ baseURL: `${BASE_URL}/v1`, apiKey: API_KEY });

for (const up of UPSTREAMS) {
  describe(`structured outputs over ${up.name}`, () => {
    it('AI SDK generateObject over chat completions', async () => {
      const marker = tag('aichat');
      const { object } = await generateObject({
        model: aiOpenAI.chat(up.openai), schema: person, prompt: prompt(marker), maxRetries: 0,
      });
      assert.deepEqual(object, ADA);
      const req = await upstreamChat(marker);
      if (req) assert.ok(req.text.includes('json-schema'), 'the upstream prompt lacks the schema');
    });

    it('AI SDK streamObject over chat completions', async () => {
      const result = streamObject({
        model: aiOpenAI.chat(up.openai), schema: person, prompt: prompt(tag('aistream')), maxRetries: 0,
        onError: ({ error }) => { throw error; },
      });
      let partials = 0;
      for await (const _ of result.partialObjectStream) partials++;
      assert.ok(partials > 0, 'no partial object');
      assert.deepEqual(await result.object, ADA);
    });

    it('AI SDK generateObject over the Responses API', async () => {
      const { object } = await generateObject({
        model: aiOpenAI.responses(up.openai), schema: person, prompt: prompt(tag('airesp')), maxRetries: 0,
      });
      assert.deepEqual(object, ADA);
    });

    it('AI SDK generateObject over Anthropic (output_config.format)', async () => {
      const { object } = await generateObject({
        model: aiAnthropic(up.anthropic), schema: person, prompt: prompt(tag('aianth')), maxRetries: 0,
        providerOptions: { anthropic: { structuredOutputMode: 'outputFormat' } },
      });
      assert.deepEqual(object, ADA);
    });

    it('AI SDK generateObject over Anthropic (default: the json tool)', async () => {
      const { object } = await generateObject({
        model: aiAnthropic(up.anthropic), schema: person, prompt: prompt(tag('aianthtool')), maxRetries: 0,
      });
      assert.deepEqual(object, ADA);
    });

    it('openai chat.completions.parse with zodResponseFormat', async () => {
      const completion = await openai.chat.completions.parse({
        model: up.openai,
        messages: [{ role: 'user', content: prompt(tag('parse')) }],
        response_format: zodResponseFormat(person, 'person'),
      });
      const msg = completion.choices[0].message;
      assert.equal(msg.refusal, null);
      assert.deepEqual(msg.parsed, ADA);
      assert.deepEqual(JSON.parse(msg.content), ADA, 'content is only the JSON');
    });

    it('openai chat.completions stream with zodResponseFormat', async () => {
      const stream = openai.chat.completions.stream({
        model: up.openai,
        messages: [{ role: 'user', content: prompt(tag('parsestream')) }],
        response_format: zodResponseFormat(person, 'person'),
      });
      const final = await stream.finalChatCompletion();
      assert.deepEqual(final.choices[0].message.parsed, ADA);
    });

    it('openai responses.parse with zodTextFormat', async () => {
      const response = await openai.responses.parse({
        model: up.openai,
        input: prompt(tag('rparse')),
        text: { format: zodTextFormat(person, 'person') },
      });
      assert.deepEqual(response.output_parsed, ADA);
      assert.equal(response.text.format.type, 'json_schema');
      assert.equal(response.text.format.name, 'person');
    });

    it('LangChain withStructuredOutput', async () => {
      const model = new ChatOpenAI({
        model: up.openai, apiKey: API_KEY, configuration: { baseURL: `${BASE_URL}/v1` }, maxRetries: 0,
      });
      const structured = model.withStructuredOutput(person, { name: 'person' });
      assert.deepEqual(await structured.invoke(prompt(tag('lc'))), ADA);
    });

    it('json_object returns bare JSON (chat and Responses)', async () => {
      const completion = await openai.chat.completions.create({
        model: up.openai,
        messages: [{ role: 'user', content: 'Answer in JSON. sim:json {"ok":true,"n":[1,2]}' }],
        response_format: { type: 'json_object' },
      });
      assert.deepEqual(JSON.parse(completion.choices[0].message.content), { ok: true, n: [1, 2] });

      const response = await openai.responses.create({
        model: up.openai,
        input: 'Answer in JSON. sim:json {"ok":true}',
        text: { format: { type: 'json_object' } },
      });
      assert.deepEqual(JSON.parse(response.output_text), { ok: true });
      assert.equal(response.text.format.type, 'json_object');
    });
  });
}
