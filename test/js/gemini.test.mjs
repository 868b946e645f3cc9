// The native Gemini API (/v1beta) through the @google/genai SDK: the
// client Gemini CLI and most Gemini tooling are built on. Its stream reader
// takes only `data: ` events of GenerateContentResponse and raises an
// {"error": ...} chunk; its helpers (response.text, response.functionCalls)
// read candidates[0].content.parts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI, Type, FunctionCallingConfigMode, ApiError } from '@google/genai';
import { BASE_URL, API_KEY, UPSTREAMS, tag, upstreamChat } from './helpers.mjs';

const ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: BASE_URL, timeout: 60_000 } });

// The models of each upstream, as Gemini tooling names them: genspark serves
// gemini-2.5-pro itself; gemini-3.8-flash (what Gemini CLI sends for
// gemini-3-flash) resolves to the Gemini web app's flash model. `served` is
// the modelVersion answers report: the model the name resolved to, as the
// Gemini API reports the version that served an alias.
const MODELS = [
  { upstream: 'genspark', model: 'gemini-2.5-pro', served: 'gemini-2.5-pro' },
  { upstream: 'geminiweb', model: 'gemini-3.8-flash', served: 'gemini-3-flash' },
];

function assertUsage(u, what) {
  assert.ok(u, `${what}: no usageMetadata`);
  assert.ok(u.promptTokenCount > 0 && u.candidatesTokenCount > 0, `${what}: ${JSON.stringify(u)}`);
  assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0), `${what}: totalTokenCount`);
}

const weather = {
  name: 'get_weather',
  description: 'Current weather in a city',
  parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
};

describe('@google/genai against spark', () => {
  for (const { upstream, model, served } of MODELS) {
    it(`generateContent (${upstream}, ${model})`, async () => {
      const marker = tag('gen');
      const res = await ai.models.generateContent({
        model, contents: `Say ${marker}`,
        config: { systemInstruction: 'Be brief.', temperature: 0.3, maxOutputTokens: 256 },
      });
      assert.match(res.text, new RegExp(marker));
      assert.equal(res.candidates[0].finishReason, 'STOP');
      assert.equal(res.candidates[0].content.role, 'model');
      assert.equal(res.modelVersion, served);
      assertUsage(res.usageMetadata, 'generateContent');
      const up = await upstreamChat(marker);
      if (up) {
        assert.ok(up.text.includes('Be brief.'), 'the system instruction did not reach the upstream');
        assert.equal(up.path.endsWith('/StreamGenerate') ? 'geminiweb' : 'genspark', upstream, 'served by the wrong upstream');
      }
    });

    it(`generateContentStream (${upstream}, ${model})`, async () => {
      const marker = tag('stream');
      const stream = await ai.models.generateContentStream({ model, contents: `Stream ${marker} sim:long 6` });
      let text = '';
      let last;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        text += chunk.text ?? '';
        last = chunk;
      }
      assert.ok(chunks > 1, `${chunks} chunks`);
      assert.match(text, new RegExp(marker));
      assert.equal(last.candidates[0].finishReason, 'STOP');
      assertUsage(last.usageMetadata, 'stream');
    });
  }

  it('thoughts with includeThoughts', async () => {
    const res = await ai.models.generateContent({
      model: UPSTREAMS[1].thinking, contents: `Think first ${tag('think')} sim:think`,
      config: { thinkingConfig: { includeThoughts: true } },
    });
    const parts = res.candidates[0].content.parts;
    assert.ok(parts.some((p) => p.thought === true && p.text), `no thought part: ${JSON.stringify(parts)}`);
    assert.ok(parts.some((p) => !p.thought && p.text), `no answer part: ${JSON.stringify(parts)}`);
  });

  for (const { upstream, model } of MODELS) {
    it(`function calling round trip (${upstream})`, async () => {
      const config = {
        tools: [{ functionDeclarations: [weather] }],
        toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } },
      };
      const question = { role: 'user', parts: [{ text: `Weather in Paris? ${tag('fc')} sim:tool get_weather {"city":"Paris"}` }] };
      const first = await ai.models.generateContent({ model, contents: [question], config });
      const calls = first.functionCalls;
      assert.equal(calls?.length, 1, JSON.stringify(first.candidates));
      assert.equal(calls[0].name, 'get_weather');
      assert.deepEqual(calls[0].args, { city: 'Paris' });

      const marker = tag('result');
      const second = await ai.models.generateContent({
        model, config,
        contents: [
          question,
          first.candidates[0].content,
          { role: 'user', parts: [{ functionResponse: { id: calls[0].id, name: 'get_weather', response: { output: `sunny ${marker}` } } }] },
        ],
      });
      assert.equal(second.functionCalls, undefined);
      assert.ok(second.text.length > 0);
      const up = await upstreamChat(marker);
      if (up) assert.ok(up.text.includes('sunny'), 'the function response did not reach the upstream');
    });
  }

  it('function calling, streamed', async () => {
    const stream = await ai.models.generateContentStream({
      model: 'gemini-3-flash',
      contents: `Two calls ${tag('fcs')} sim:tool get_weather {"city":"Oslo"} sim:tool get_weather {"city":"Rome"}`,
      config: { tools: [{ functionDeclarations: [weather] }] },
    });
    const calls = [];
    for await (const chunk of stream) calls.push(...(chunk.functionCalls ?? []));
    assert.deepEqual(calls.map((c) => c.args.city), ['Oslo', 'Rome']);
  });

  it('countTokens', async () => {
    const short = await ai.models.countTokens({ model: 'gemini-2.5-pro', contents: 'hello' });
    const long = await ai.models.countTokens({ model: 'gemini-2.5-pro', contents: 'hello '.repeat(200) });
    assert.ok(short.totalTokens > 0 && long.totalTokens > short.totalTokens, `${short.totalTokens} ${long.totalTokens}`);
  });

  it('embedContent', async () => {
    const res = await ai.models.embedContent({
      model: 'gemini-embedding-001', contents: ['first text', 'second text'],
      config: { outputDimensionality: 128 },
    });
    assert.equal(res.embeddings.length, 2);
    for (const e of res.embeddings) assert.equal(e.values.length, 128);
    assert.notDeepEqual(res.embeddings[0].values, res.embeddings[1].values);
  });

  it('models list and get', async () => {
    const names = [];
    const pager = await ai.models.list({ config: { pageSize: 5 } });
    for await (const m of pager) names.push(m.name);
    assert.ok(names.includes('models/gemini-3-flash') && names.includes('models/gemini-embedding-001'), names.join(' '));
    assert.equal(new Set(names).size, names.length, 'a model is listed twice across pages');
    const one = await ai.models.get({ model: 'gemini-3-flash' });
    assert.equal(one.name, 'models/gemini-3-flash');
  });

  it('errors are ApiErrors with the status', async () => {
    await assert.rejects(
      ai.models.generateContent({ model: 'gemini-3-flash', contents: 'x', config: { candidateCount: 3 } }),
      (e) => e instanceof ApiError && e.status === 400 && /candidateCount/.test(e.message),
    );
    const bad = new GoogleGenAI({ apiKey: 'sk-wrong', httpOptions: { baseUrl: BASE_URL } });
    await assert.rejects(
      bad.models.generateContent({ model: 'gemini-3-flash', contents: 'x' }),
      (e) => e instanceof ApiError && e.status === 401 && /UNAUTHENTICATED/.test(e.message),
    );
  });
});
