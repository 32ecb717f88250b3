// Comparison helpers that report every difference at once, so a failing
// assertion shows the whole picture (what was sent vs what came back).
import assert from 'node:assert/strict';

export const TOL_MS = 0.01;
export const HEX16 = /^[0-9a-f]{16}$/;
export const HEX32 = /^[0-9a-f]{32}$/;

// Values the API may use for "no span id".
export const isNoSpanId = (v) => v === null || v === undefined || v === '' || v === '0000000000000000';

// Compares selected fields of `actual` with `expected`: keys ending in _ms
// within TOL_MS, others strictly. Returns a list of human-readable problems.
export function diffFields(actual, expected, where = '') {
  const problems = [];
  if (actual === null || typeof actual !== 'object') return [`${where}: expected an object, got ${JSON.stringify(actual)}`];
  for (const [k, want] of Object.entries(expected)) {
    const got = actual[k];
    if (!(k in actual)) {
      problems.push(`${where}.${k}: missing (want ${JSON.stringify(want)})`);
    } else if (k.endsWith('_ms') && typeof want === 'number') {
      if (typeof got !== 'number' || !(Math.abs(got - want) <= TOL_MS)) {
        problems.push(`${where}.${k}: got ${JSON.stringify(got)}, want ${want} ±${TOL_MS}`);
      }
    } else if (k === 'span_id' || k === 'parent_span_id') {
      if (want === null ? !isNoSpanId(got) : got !== want) {
        problems.push(`${where}.${k}: got ${JSON.stringify(got)}, want ${want === null ? 'none' : JSON.stringify(want)}`);
      }
    } else if (JSON.stringify(got) !== JSON.stringify(want)) {
      problems.push(`${where}.${k}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  }
  return problems;
}

export function assertFields(actual, expected, where = 'value', context = '') {
  const problems = diffFields(actual, expected, where);
  assert.deepEqual(problems, [], `${where} differs from what was sent:\n  ${problems.join('\n  ')}${context ? `\n${context}` : ''}`);
}

// Steps: same count and kinds in the same order, then every expected field.
export function assertSteps(actual, expected, where = 'steps') {
  assert.ok(Array.isArray(actual), `${where}: not an array: ${JSON.stringify(actual)}`);
  const kinds = (l) => l.map((s) => `${s.kind}:${s.name}`);
  assert.deepEqual(kinds(actual), kinds(expected),
    `${where}: step kinds/names (in start order) differ\n  got:  ${JSON.stringify(kinds(actual))}\n  want: ${JSON.stringify(kinds(expected))}`);
  const problems = [];
  expected.forEach((e, i) => problems.push(...diffFields(actual[i], e, `${where}[${i}] (${e.kind} ${e.name})`)));
  assert.deepEqual(problems, [], `${where} differ from what was sent:\n  ${problems.join('\n  ')}`);
}

export const near = (a, b, tol = TOL_MS) => typeof a === 'number' && Math.abs(a - b) <= tol;
export const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);

// Relative closeness for statistics computed from histograms.
export function assertClose(got, want, relTol, what) {
  assert.ok(typeof got === 'number' && Math.abs(got - want) <= Math.max(TOL_MS, Math.abs(want) * relTol),
    `${what}: got ${JSON.stringify(got)}, want ${want} (±${relTol * 100}%)`);
}

// Checks the error body shape of docs/api.md.
export function assertApiError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: status ${r.status}, want ${status}; body ${r.text?.slice(0, 500)}`);
  assert.ok(r.json && typeof r.json === 'object', `${what}: body is not JSON: ${r.text?.slice(0, 500)}`);
  assert.ok(r.json.error && typeof r.json.error === 'object', `${what}: no "error" object: ${r.text?.slice(0, 500)}`);
  if (code) assert.equal(r.json.error.code, code, `${what}: error.code ${JSON.stringify(r.json.error.code)}, want ${code}`);
  assert.equal(typeof r.json.error.message, 'string', `${what}: error.message not a string`);
  const ct = r.headers.get('content-type') || '';
  assert.match(ct, /^application\/json/, `${what}: content-type ${ct}`);
}
