import { decodeSecret, encodeSecret } from './secret-codec.js';

describe('secret codec', () => {
  it('round-trips nested JSON with byte arrays', () => {
    const value = { token: 'abc', device: { id: 'd1', keys: { signSecretKey: new Uint8Array([0, 1, 255]) } }, list: [new Uint8Array([7]), 2, null, true] };

    const decoded = decodeSecret(encodeSecret(value));

    expect(decoded).toEqual(value);
    expect((decoded as typeof value).device.keys.signSecretKey).toBeInstanceOf(Uint8Array);
  });

  it('keeps an ordinary object that merely has other keys next to a $bytes field', () => {
    const value = { $bytes: 'not-bytes', other: 1 };

    expect(decodeSecret(encodeSecret(value))).toEqual(value);
  });

  it('refuses bytes it did not make', () => {
    expect(() => decodeSecret(new Uint8Array([0xff, 0x00]))).toThrow(SyntaxError);
  });
});
