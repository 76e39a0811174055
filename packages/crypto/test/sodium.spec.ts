import { assertPrimitives, REQUIRED_PRIMITIVES } from '../src/sodium.js';
import { fromBase64, keyId, ready, toBase64 } from '../src/index.js';
import { errorCodeOf } from './factories.js';

describe('ready', () => {
  it('refuses to work before ready() resolves', () => {
    expect(errorCodeOf(() => keyId(new Uint8Array(32)))).toBe('not_ready');
  });

  it('resolves on the sumo build, and again on a second call', async () => {
    await expect(ready()).resolves.toBeUndefined();
    await expect(ready()).resolves.toBeUndefined();
  });
});

describe('assertPrimitives', () => {
  const complete = Object.fromEntries(REQUIRED_PRIMITIVES.map((name) => [name, () => undefined]));

  it('accepts a library with every primitive', () => {
    expect(errorCodeOf(() => assertPrimitives(complete))).toBe('no error');
  });

  it('names a build without crypto_pwhash (the non-sumo build) as missing a primitive', () => {
    const { crypto_pwhash: _dropped, ...standardBuild } = complete;

    const action = () => assertPrimitives(standardBuild);

    expect(errorCodeOf(action)).toBe('missing_primitive');
    expect(action).toThrow(/crypto_pwhash/);
  });
});

describe('base64', () => {
  beforeAll(() => ready());

  it('uses standard base64 with padding', () => {
    expect(toBase64(Uint8Array.of(0xfb, 0xff, 0x01, 0x02))).toBe('+/8BAg==');
    expect(fromBase64('+/8BAg==')).toEqual(Uint8Array.of(0xfb, 0xff, 0x01, 0x02));
  });

  it('round-trips arbitrary bytes', () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff);

    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
  });

  it.each([
    ['URL-safe alphabet', '-_8BAg=='],
    ['missing padding', '+/8BAg'],
    ['whitespace', '+/8B Ag=='],
    ['a stray character', '+/8BAg=!'],
  ])('refuses %s as invalid_encoding', (_case, text) => {
    expect(errorCodeOf(() => fromBase64(text))).toBe('invalid_encoding');
  });
});
