// Shared setup of the JavaScript SDK tests: clients pointed at the gateway
// under test and access to the simulator's request log.
//
// Environment (set by internal/app/js_test.go):
//   SPARK_BASE_URL  gateway base URL without /v1, e.g. http://127.0.0.1:PORT
//   SPARK_API_KEY   an API key the gateway accepts
//   SPARK_SIM_URL   optional: the simulator behind the gateway; enables the
//                   assertions on what reached the upstream
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through \`go test ./internal/app -run TestJavaScriptSDKs\``);
  }
  return v;
}

export const BASE_URL = env('SPARK_BASE_URL').replace(/\/+$/, '');
export const API_KEY = env('SPARK_API_KEY');
export const SIM_URL = (process.env.SPARK_SIM_URL ?? '').replace(/\/+$/, '');

export const openai = new OpenAI({ baseURL: `${BASE_URL}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
export const anthropic = new Anthropic({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });

// The two upstreams, with the model names that route to each.
// `thinking` is a model that answers `sim:think` with reasoning.
// `anthropicEcho` is the model answers to `anthropic` name: answers echo the
// model the name resolved to (provider.Match.Echo). A dated Claude id served
// by its undated catalog entry echoes itself, as the Anthropic API echoes
// the dated id it resolved; claude-gemini-3-flash is an alias (Claude Code
// offers only names containing "claude") of the catalog's gemini-3-flash,
// which is what answers it.
export const UPSTREAMS = [
  { name: 'genspark', openai: 'gpt-5.2', anthropic: 'claude-sonnet-4-5-20250929', anthropicEcho: 'claude-sonnet-4-5-20250929', thinking: 'o3-pro' },
  { name: 'geminiweb', openai: 'gemini-3-flash', anthropic: 'claude-gemini-3-flash', anthropicEcho: 'gemini-3-flash', thinking: 'gemini-3-pro' },
];

// tag returns a fresh alphanumeric marker, to find a request in the
// simulator's log (the test files run in parallel against one gateway).
export function tag(prefix = 'tag') {
  return prefix + randomBytes(5).toString('hex');
}

// upstreamChat returns the one chat request (Genspark ask or Gemini
// StreamGenerate) whose body or parsed facts contain marker, or null when
// SPARK_SIM_URL is not set.
export async function upstreamChat(marker) {
  if (!SIM_URL) return null;
  const res = await fetch(`${SIM_URL}/_sim/requests`);
  assert.equal(res.status, 200, 'simulator request log');
  const { requests } = await res.json();
  const hits = requests.filter(
    (e) => (e.path === '/api/copilot/ask' || e.path.endsWith('/StreamGenerate')) &&
      ((e.body ?? '').includes(marker) || JSON.stringify(e.facts ?? {}).includes(marker)),
  );
  assert.equal(hits.length, 1, `upstream chat requests carrying ${marker}: ${hits.length}`);
  return { ...hits[0], text: (hits[0].body ?? '') + JSON.stringify(hits[0].facts ?? {}) };
}

// assertTokenCounts checks the input and output counts of a usage object.
export function assertTokenCounts(usage, inKey, outKey, what) {
  assert.ok(usage, `${what}: no usage`);
  assert.ok(Number.isInteger(usage[inKey]) && usage[inKey] > 0, `${what}: ${inKey} ${JSON.stringify(usage)}`);
  assert.ok(Number.isInteger(usage[outKey]) && usage[outKey] > 0, `${what}: ${outKey} ${JSON.stringify(usage)}`);
}
