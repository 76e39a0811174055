import { fromBase64, ready, toBase64 } from '@parley/crypto';
import { DEVICE_LOCK_KDF_PARAMS, deriveDeviceLockKey } from '../src/patient-unlock.js';

describe('deriveDeviceLockKey', () => {
  beforeAll(async () => {
    await ready();
  });

  it('derives a new lock with a fresh salt at 3 passes over 64 MiB, and the same key again from the same passphrase, salt and cost', async () => {
    const first = await deriveDeviceLockKey('correct horse battery staple x');

    const again = await deriveDeviceLockKey('correct horse battery staple x', first.kdf);
    const other = await deriveDeviceLockKey('correct horse battery staple y', first.kdf);
    const fresh = await deriveDeviceLockKey('correct horse battery staple x');

    expect(first.kdf).toEqual({ salt: expect.any(Uint8Array), opsLimit: DEVICE_LOCK_KDF_PARAMS.opsLimit, memLimitBytes: 64 * 1024 * 1024 });
    expect(first.key).toHaveLength(32);
    expect(toBase64(again.key)).toBe(toBase64(first.key));
    expect(toBase64(other.key)).not.toBe(toBase64(first.key));
    expect(toBase64(fresh.kdf.salt)).not.toBe(toBase64(first.kdf.salt));
    expect(toBase64(fresh.key)).not.toBe(toBase64(first.key));
  });

  it('refuses a stored cost below the floor or above the cap, and a malformed salt, as invalid_payload', async () => {
    const salt = fromBase64('AAAAAAAAAAAAAAAAAAAAAA==');

    await expect(deriveDeviceLockKey('a passphrase', { salt, opsLimit: 1, memLimitBytes: 64 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'invalid_payload',
    });
    await expect(deriveDeviceLockKey('a passphrase', { salt, opsLimit: 3, memLimitBytes: 8192 })).rejects.toMatchObject({ code: 'invalid_payload' });
    await expect(deriveDeviceLockKey('a passphrase', { salt, opsLimit: 9, memLimitBytes: 64 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'invalid_payload',
    });
    await expect(deriveDeviceLockKey('a passphrase', { salt, opsLimit: 3, memLimitBytes: 512 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'invalid_payload',
    });
    await expect(deriveDeviceLockKey('a passphrase', { salt: salt.subarray(0, 8), opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'invalid_payload',
    });
    await expect(deriveDeviceLockKey('')).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
