// The Files API through the openai and @anthropic-ai/sdk npm packages:
// upload, list, retrieve, download, delete, and a chat turn that names the
// uploaded file by id (its content must reach the upstream).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { toFile as anthropicToFile } from '@anthropic-ai/sdk';
import { openai, anthropic, UPSTREAMS, SIM_URL, tag, upstreamChat } from './helpers.mjs';

// upstreamUpload reports whether a request to the simulator other than a
// chat ask (an upload of the file's bytes) carries marker; true when
// SPARK_SIM_URL is not set.
async function upstreamUpload(marker) {
  if (!SIM_URL) return true;
  const res = await fetch(`${SIM_URL}/_sim/requests`);
  const { requests } = await res.json();
  return requests.some((e) => e.method !== 'GET' && e.path !== '/api/copilot/ask' &&
    !e.path.endsWith('/StreamGenerate') && (e.body ?? '').includes(marker));
}

describe('Files API with the openai SDK', () => {
  for (const up of UPSTREAMS) {
    it(`create, list, retrieve, content, a chat turn by file_id (${up.name}), delete`, async () => {
      const marker = tag('file');
      const text = `Notes: the secret word is ${marker}.\n`;
      const f = await openai.files.create({
        file: await toFile(Buffer.from(text), 'notes.txt', { type: 'text/plain' }),
        purpose: 'user_data',
      });
      assert.match(f.id, /^file-/);
      assert.equal(f.object, 'file');
      assert.equal(f.bytes, Buffer.byteLength(text));
      assert.equal(f.filename, 'notes.txt');
      assert.equal(f.purpose, 'user_data');
      assert.equal(f.status, 'processed');

      const ids = [];
      for await (const item of openai.files.list({ limit: 1 })) ids.push(item.id);
      assert.ok(ids.includes(f.id), `listed ${ids}`);

      const got = await openai.files.retrieve(f.id);
      assert.deepEqual({ id: got.id, bytes: got.bytes, filename: got.filename }, { id: f.id, bytes: f.bytes, filename: f.filename });
      const content = await openai.files.content(f.id);
      assert.equal(await content.text(), text);

      const answer = await openai.chat.completions.create({
        model: up.openai,
        messages: [{
          role: 'user',
          content: [
            { type: 'text', text: 'What is the secret word in the file?' },
            { type: 'file', file: { file_id: f.id } },
          ],
        }],
      });
      assert.equal(answer.choices[0].finish_reason, 'stop');
      assert.ok(await upstreamUpload(marker), 'the file named by id did not reach the upstream');

      const del = await openai.files.delete(f.id);
      assert.deepEqual(del, { id: f.id, object: 'file', deleted: true });
      await assert.rejects(openai.files.retrieve(f.id), (e) => e instanceof OpenAI.NotFoundError);
    });
  }

  it('an unknown file id in a chat turn is a 400 naming the param', async () => {
    await assert.rejects(
      openai.chat.completions.create({
        model: UPSTREAMS[0].openai,
        messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-doesnotexist' } }] }],
      }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages[0].content[0].file.file_id',
    );
  });
});

describe('Files API with the @anthropic-ai/sdk beta', () => {
  const betas = ['files-api-2025-04-14'];
  for (const up of UPSTREAMS) {
    it(`upload, list, retrieveMetadata, download, a document block by file id (${up.name}), delete`, async () => {
      const marker = tag('memo');
      const text = `Memo: the code name is ${marker}.`;
      const f = await anthropic.beta.files.upload({
        file: await anthropicToFile(Buffer.from(text), 'memo.txt', { type: 'text/plain' }),
        betas,
      });
      assert.equal(f.type, 'file');
      assert.equal(f.filename, 'memo.txt');
      assert.equal(f.mime_type, 'text/plain');
      assert.equal(f.size_bytes, Buffer.byteLength(text));
      assert.ok(!Number.isNaN(Date.parse(f.created_at)), f.created_at);

      const ids = [];
      for await (const item of anthropic.beta.files.list({ limit: 1, betas })) ids.push(item.id);
      assert.ok(ids.includes(f.id), `listed ${ids}`);
      const meta = await anthropic.beta.files.retrieveMetadata(f.id, { betas });
      assert.equal(meta.size_bytes, f.size_bytes);
      const download = await anthropic.beta.files.download(f.id, { betas });
      assert.equal(await download.text(), text);

      const msg = await anthropic.beta.messages.create({
        model: up.anthropic,
        max_tokens: 200,
        betas,
        messages: [{
          role: 'user',
          content: [
            { type: 'document', source: { type: 'file', file_id: f.id } },
            { type: 'text', text: 'What is the code name?' },
          ],
        }],
      });
      assert.equal(msg.type, 'message');
      const upstream = await upstreamChat(marker);
      if (upstream) assert.ok(upstream.text.includes(marker));

      const del = await anthropic.beta.files.delete(f.id, { betas });
      assert.deepEqual(del, { id: f.id, type: 'file_deleted' });
      await assert.rejects(anthropic.beta.files.retrieveMetadata(f.id, { betas }), (e) => e.status === 404 && e.error?.error?.type === 'not_found_error');
    });
  }
});
