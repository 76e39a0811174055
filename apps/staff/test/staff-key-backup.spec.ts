import { generateDeviceKeys, generatePracticeRootKey, ready, TEST_KDF_PARAMS, toBase64 } from '@parley/crypto';
import { AccountFlowError, openStaffKeyBackup, sealStaffKeyBackup } from '@parley/sdk';

// Unit tests of the key backup file format (@parley/sdk staff-key-backup.ts); the browser tests sign in with real files.
describe('staff key backup file', () => {
  const passphrase = 'violet harbour stepping lightly';
  const base = async () => {
    await ready();
    const root = generatePracticeRootKey();
    return {
      root,
      odsCode: 'Y01234',
      login: 'dr.x@test.parley',
      userId: '8d7e7f0e-0b5e-4a36-9d0e-1d2b1b6f8a11',
      device: { deviceId: 'f3c1a9e2-5d4b-4c3a-8b2a-1e0f9d8c7b6a', keys: generateDeviceKeys() },
      pinnedRoot: root.signPublicKey,
    };
  };

  it('refuses a file sealed with test-only Argon2 parameters (a file never lowers the key derivation cost)', async () => {
    const input = await base();
    const text = await sealStaffKeyBackup({ ...input, passphrase, kdf: TEST_KDF_PARAMS });

    await expect(openStaffKeyBackup(text, passphrase)).rejects.toMatchObject({ code: 'invalid_payload' });
  });

  it('opens a file made with real Argon2 parameters, and refuses a wrong passphrase', async () => {
    const input = await base();
    const { root } = input;
    const text = await sealStaffKeyBackup({ ...input, passphrase });

    const opened = await openStaffKeyBackup(text, passphrase);

    expect(opened).toMatchObject({ odsCode: input.odsCode, login: input.login, userId: input.userId, device: { deviceId: input.device.deviceId } });
    expect(opened.device.keys.signSecretKey).toEqual(input.device.keys.signSecretKey);
    expect(opened.device.keys.boxSecretKey).toEqual(input.device.keys.boxSecretKey);
    expect(opened.pinnedRoot).toEqual(input.pinnedRoot);
    expect(opened.root?.signSecretKey).toEqual(root.signSecretKey);
    await expect(openStaffKeyBackup(text, 'not the passphrase at all')).rejects.toEqual(expect.any(AccountFlowError));
    await expect(openStaffKeyBackup(text, 'not the passphrase at all')).rejects.toMatchObject({ code: 'wrong_passphrase' });
  });

  it('refuses a file whose blobs were swapped, or that is not a key backup file', async () => {
    const input = await base();
    const file = JSON.parse(await sealStaffKeyBackup({ ...input, passphrase })) as { device: string; root: string };
    const swapped = JSON.stringify({ ...file, device: file.root, root: file.device });

    await expect(openStaffKeyBackup(swapped, passphrase)).rejects.toMatchObject({ code: 'invalid_payload' });
    await expect(openStaffKeyBackup('{"format":"something else"}', passphrase)).rejects.toMatchObject({ code: 'invalid_payload' });
    await expect(openStaffKeyBackup('not json', passphrase)).rejects.toMatchObject({ code: 'invalid_payload' });
  });

  it('keeps the pinned root key inside the sealed part (format 4): no field of the file names it, and a root key that is not the pinned one is refused', async () => {
    const { root: _root, ...input } = await base();
    const text = await sealStaffKeyBackup({ ...input, passphrase });
    const file = JSON.parse(text) as Record<string, unknown>;

    expect(file['format']).toBe('parley-staff-keys/4');
    expect(Object.keys(file)).not.toContain('rootSignPublicKey');
    expect(text).not.toContain(toBase64(input.pinnedRoot));
    expect((await openStaffKeyBackup(text, passphrase)).pinnedRoot).toEqual(input.pinnedRoot);
    // A manager's file whose root key is not the root it pins is damaged or forged.
    const mismatched = await sealStaffKeyBackup({ ...input, root: generatePracticeRootKey(), passphrase });
    await expect(openStaffKeyBackup(mismatched, passphrase)).rejects.toMatchObject({ code: 'invalid_payload' });
  });
});
