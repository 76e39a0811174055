import { inPage, packagePages } from './package-page.js';

describe('@parley/web in Chromium (IndexedDB, WebCrypto, Web Locks)', () => {
  const pages = packagePages();

  it('keeps remembered keys across a reload, encrypted under a non-extractable key', async () => {
    await inPage(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      await new web.DeviceVault(db, 'patient').save({ token: 'secret-token-123', keys: { signSecretKey: new Uint8Array([1, 2, 3, 250]) } }, { remember: true });
    `,
    );

    await pages.page.reload();
    const after = await inPage<{
      token: string;
      key: number[];
      isBytes: boolean;
      isRemembered: boolean;
      extractable: boolean;
      exportRefused: boolean;
      storedHasToken: boolean;
    }>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      const vault = new web.DeviceVault(db, 'patient');
      const value = await vault.load();
      const wrapping = await db.get('wrapping-keys', 'patient');
      const exportRefused = await crypto.subtle.exportKey('raw', wrapping).then(() => false, () => true);
      const record = await db.get('vault', 'patient');
      const storedText = new TextDecoder().decode(new Uint8Array(record.ciphertext));
      return { token: value.token, key: [...value.keys.signSecretKey], isBytes: value.keys.signSecretKey instanceof Uint8Array, isRemembered: vault.isRemembered,
        extractable: wrapping.extractable, exportRefused, storedHasToken: storedText.includes('secret-token-123') };
    `,
    );

    expect(after).toEqual({
      token: 'secret-token-123',
      key: [1, 2, 3, 250],
      isBytes: true,
      isRemembered: true,
      extractable: false,
      exportRefused: true,
      storedHasToken: false,
    });
  });

  it('keeps a "don\'t remember this device" value in memory only, wiping any stored copy', async () => {
    const during = await inPage<{ token: string; stored: unknown }>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      const vault = new web.DeviceVault(db, 'patient');
      await vault.save({ token: 'first' }, { remember: true });
      await vault.save({ token: 'second' }, { remember: false });
      return { token: (await vault.load()).token, stored: (await db.get('vault', 'patient')) ?? null };
    `,
    );

    await pages.page.reload();
    const after = await inPage(pages.page, `return await new web.DeviceVault(await web.WebDatabase.open('t'), 'patient').load();`);

    expect(during).toEqual({ token: 'second', stored: null });
    expect(after).toBeNull();
  });

  it('forgets everything on forget(), wrapping key included', async () => {
    const stored = await inPage<{ value: unknown; key: unknown }>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      const vault = new web.DeviceVault(db, 'patient');
      await vault.save({ token: 'x' }, { remember: true });
      await vault.forget();
      return { value: await vault.load(), key: (await db.get('wrapping-keys', 'patient')) ?? null };
    `,
    );

    expect(stored).toEqual({ value: null, key: null });
  });

  it('reads a vault record that no longer decrypts as empty, and wipes it', async () => {
    const result = await inPage<{ value: unknown; stored: unknown }>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      await new web.DeviceVault(db, 'patient').save({ token: 'x' }, { remember: true });
      const record = await db.get('vault', 'patient');
      const bytes = new Uint8Array(record.ciphertext); bytes[0] ^= 1;
      await db.put('vault', { iv: record.iv, ciphertext: bytes.buffer }, 'patient');
      const value = await new web.DeviceVault(db, 'patient').load();
      return { value, stored: (await db.get('vault', 'patient')) ?? null };
    `,
    );

    expect(result).toEqual({ value: null, stored: null });
  });

  it('seals a value under a lock key that only the same key bytes open: another key, or an edited salt, cost or ciphertext, is refused', async () => {
    const result = await inPage<{
      opened: { token: string; key: number[] };
      extractable: boolean;
      keyBytesAfter: number[];
      refusals: string[];
      storedHasToken: boolean;
      survivesVault: boolean;
    }>(
      pages.page,
      `
      const kdf = { salt: new Uint8Array(16).fill(7), opsLimit: 3, memLimitBytes: 67108864 };
      const keyBytes = new Uint8Array(32).fill(42);
      const lock = await web.SecretLock.fromKeyBytes(keyBytes, kdf, 'patient');
      const sealed = await lock.seal({ token: 'secret-token-123', key: new Uint8Array([9, 8, 7]) });
      // Through the device vault and back, as the patient app stores it.
      const db = await web.WebDatabase.open('t');
      const vault = new web.DeviceVault(db, 'patient');
      await vault.save({ sealed }, { remember: true });
      const reread = (await new web.DeviceVault(db, 'patient').load()).sealed;
      const again = await web.SecretLock.fromKeyBytes(new Uint8Array(32).fill(42), kdf, 'patient');
      const opened = await again.open(reread);
      const refused = (promise) => promise.then(() => 'opened', (error) => error.code);
      const other = await web.SecretLock.fromKeyBytes(new Uint8Array(32).fill(43), kdf, 'patient');
      const otherContext = await web.SecretLock.fromKeyBytes(new Uint8Array(32).fill(42), kdf, 'staff');
      const flipped = sealed.ciphertext.slice(); flipped[0] ^= 1;
      const refusals = [
        await refused(other.open(sealed)),
        await refused(otherContext.open(sealed)),
        await refused(again.open({ ...sealed, ciphertext: flipped })),
        await refused(again.open({ ...sealed, kdf: { ...sealed.kdf, opsLimit: 1 } })),
        await refused(again.open({ ...sealed, kdf: { ...sealed.kdf, salt: new Uint8Array(16).fill(8) } })),
      ];
      return {
        opened: { token: opened.token, key: [...opened.key] },
        extractable: lock.key.extractable,
        keyBytesAfter: [...new Set(keyBytes)],
        refusals,
        storedHasToken: new TextDecoder().decode(sealed.ciphertext).includes('secret-token-123'),
        survivesVault: web.isLockedSecret(reread),
      };
    `,
    );

    expect(result).toEqual({
      opened: { token: 'secret-token-123', key: [9, 8, 7] },
      extractable: false,
      keyBytesAfter: [0],
      refusals: ['wrong_passphrase', 'wrong_passphrase', 'wrong_passphrase', 'wrong_passphrase', 'wrong_passphrase'],
      storedHasToken: false,
      survivesVault: true,
    });
  });

  it('keeps outbox items and feed cursors per user across a reload', async () => {
    const item = (id: string, order: number) => ({
      send: {
        conversationId: '00000000-0000-4000-8000-000000000001',
        clientMessageId: id,
        epoch: 1,
        senderDeviceSeq: order,
        contentType: 'text',
        ciphertext: 'AAAAAAAAAAAAAAAAAAAAAAAA',
        nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      },
      order,
      status: 'pending',
      attempts: 0,
      lastError: null,
      enqueuedAt: '2026-01-01T00:00:00.000Z',
    });
    await inPage(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      const mine = new web.IndexedDbOutboxStore(db, 'user-a');
      await mine.put(input[0]); await mine.put(input[1]);
      await new web.IndexedDbOutboxStore(db, 'user-b').put(input[2]);
      await new web.IndexedDbFeedCursorStore(db, 'user-a').save('c1', 42);
    `,
      [item('10000000-0000-4000-8000-000000000001', 1), item('10000000-0000-4000-8000-000000000002', 2), item('20000000-0000-4000-8000-000000000001', 1)],
    );

    await pages.page.reload();
    const after = await inPage<{
      before: string[];
      afterDelete: string[];
      other: string[];
      cursor: number | null;
      otherCursor: number | null;
      unknown: number | null;
    }>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      const mine = new web.IndexedDbOutboxStore(db, 'user-a');
      const before = (await mine.loadAll()).map((i) => i.send.clientMessageId).sort();
      await mine.delete('10000000-0000-4000-8000-000000000001');
      await mine.delete('99999999-0000-4000-8000-000000000000');
      const afterDelete = (await mine.loadAll()).map((i) => i.send.clientMessageId);
      const other = (await new web.IndexedDbOutboxStore(db, 'user-b').loadAll()).map((i) => i.send.clientMessageId);
      return { before, afterDelete, other,
        cursor: await new web.IndexedDbFeedCursorStore(db, 'user-a').load('c1'),
        otherCursor: await new web.IndexedDbFeedCursorStore(db, 'user-b').load('c1'),
        unknown: await new web.IndexedDbFeedCursorStore(db, 'user-a').load('c2') };
    `,
    );

    expect(after).toEqual({
      before: ['10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002'],
      afterDelete: ['10000000-0000-4000-8000-000000000002'],
      other: ['20000000-0000-4000-8000-000000000001'],
      cursor: 42,
      otherCursor: null,
      unknown: null,
    });
  });

  it('wipes every store with clearAll()', async () => {
    const left = await inPage<number[]>(
      pages.page,
      `
      const db = await web.WebDatabase.open('t');
      await new web.DeviceVault(db, 'patient').save({ token: 'x' }, { remember: true });
      await new web.IndexedDbFeedCursorStore(db, 'u').save('c', 3);
      await db.clearAll();
      return await Promise.all(['vault', 'wrapping-keys', 'outbox', 'cursors'].map(async (s) => (await db.getAll(s)).length));
    `,
    );

    expect(left).toEqual([0, 0, 0, 0]);
  });

  it('lets one tab hold the connection lock; another gets it once the first tab closes', async () => {
    const second = await pages.another();

    const first = await inPage<boolean>(pages.page, `window.lock = new web.TabLock('conn'); return await window.lock.tryAcquire();`);
    const secondNow = await inPage<boolean>(second, `window.lock = new web.TabLock('conn'); return await window.lock.tryAcquire();`);
    await inPage(second, `window.waited = window.lock.acquire(); return null;`);
    await pages.page.close();
    const secondLater = await second.evaluate(() => (window as unknown as { waited: Promise<boolean> }).waited);

    expect([first, secondNow, secondLater]).toEqual([true, false, true]);
  });

  it('hands the lock over on release(), and stops waiting when asked', async () => {
    const second = await pages.another();
    await inPage(pages.page, `window.lock = new web.TabLock('conn2'); await window.lock.tryAcquire(); return null;`);
    await inPage(second, `window.lock = new web.TabLock('conn2'); window.waited = window.lock.acquire(); return null;`);

    await inPage(pages.page, `window.lock.release(); return null;`);
    const secondGot = await second.evaluate(() => (window as unknown as { waited: Promise<boolean> }).waited);
    const third = await inPage<boolean>(
      pages.page,
      `const other = new web.TabLock('conn2'); const waiting = other.acquire(); other.release(); return await waiting;`,
    );

    expect({ firstHeld: await inPage(pages.page, `return window.lock.isHeld;`), secondGot, third }).toEqual({
      firstHeld: false,
      secondGot: true,
      third: false,
    });
  });
});
