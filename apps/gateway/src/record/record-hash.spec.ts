import { randomUUID } from 'node:crypto';
import { canonicalJson, entryHash, genesisHash, verifyChain, type StoredChainEntry } from './record-hash.js';

describe('record hash chain', () => {
  const conversationId = randomUUID();
  const message = (seq: number) => ({
    epoch: 1,
    senderUserId: randomUUID(),
    senderDeviceId: randomUUID(),
    senderRole: 'patient',
    senderDeviceSeq: seq,
    clientMessageId: randomUUID(),
    contentType: 'text',
    ciphertext: Buffer.from(`ciphertext ${seq}`),
    nonce: Buffer.alloc(24, seq),
  });
  const chain = (length: number): StoredChainEntry[] => {
    const entries: StoredChainEntry[] = [];
    let prevHash = genesisHash(conversationId);
    for (let seq = 1; seq <= length; seq += 1) {
      const fields =
        seq === 1
          ? { conversationId, seq, createdAt: new Date(1_700_000_000_000 + seq), system: { event: 'opened', data: { topic: 'admin' } } }
          : { conversationId, seq, createdAt: new Date(1_700_000_000_000 + seq), message: message(seq) };
      const hash = entryHash(prevHash, fields);
      entries.push({ ...fields, prevHash, hash });
      prevHash = hash;
    }
    return entries;
  };
  const headOf = (entries: StoredChainEntry[]) => ({ lastSeq: entries.length, lastHash: entries.at(-1)!.hash });

  it('verifies an intact chain', () => {
    const entries = chain(5);

    expect(verifyChain(conversationId, entries, headOf(entries))).toBeUndefined();
  });

  it('names the entry whose ciphertext was edited', () => {
    const entries = chain(5);
    entries[2]!.message!.ciphertext = Buffer.from('tampered');

    expect(verifyChain(conversationId, entries, headOf(entries))).toEqual({ conversationId, seq: 3, reason: 'hash_mismatch' });
  });

  it('detects a row moved between conversations, a removed row, and a cut-off tail', () => {
    const moved = chain(3);
    const removed = chain(4);
    const cut = chain(4);

    expect(verifyChain(randomUUID(), moved, headOf(moved))?.reason).toBe('prev_hash_mismatch');
    expect(verifyChain(conversationId, [removed[0]!, removed[2]!, removed[3]!], headOf(removed))).toEqual({ conversationId, seq: 2, reason: 'seq_gap' });
    expect(verifyChain(conversationId, cut.slice(0, 3), headOf(cut))).toEqual({ conversationId, seq: 4, reason: 'head_mismatch' });
  });

  it('detects an edited sender, epoch or system event', () => {
    for (const edit of [
      (e: StoredChainEntry[]) => (e[1]!.message!.senderDeviceId = randomUUID()),
      (e: StoredChainEntry[]) => (e[1]!.message!.epoch = 2),
      (e: StoredChainEntry[]) => (e[0]!.system!.data = { topic: 'other' }),
      (e: StoredChainEntry[]) => (e[1]!.createdAt = new Date(0)),
    ]) {
      const entries = chain(3);
      edit(entries);

      expect(verifyChain(conversationId, entries, headOf(entries))?.reason).toBe('hash_mismatch');
    }
  });

  it('encodes JSON canonically, whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x'], c: null } })).toBe('{"a":{"c":null,"d":[1,"x"]},"b":1}');
  });

  it('keeps the encoding every stored chain was hashed with (a vector computed by the field-by-field implementation)', () => {
    const entry = {
      conversationId: '00000000-0000-4000-8000-000000000001',
      seq: 7,
      createdAt: new Date('2026-12-05T06:00:00.000Z'),
      message: {
        epoch: 1,
        senderUserId: '00000000-0000-4000-8000-000000000002',
        senderDeviceId: '00000000-0000-4000-8000-000000000003',
        senderRole: 'patient',
        senderDeviceSeq: 3,
        clientMessageId: '00000000-0000-4000-8000-000000000004',
        contentType: 'text',
        ciphertext: Buffer.from('ciphertext'),
        nonce: Buffer.alloc(24, 1),
      },
    };
    expect(entryHash(Buffer.alloc(32, 9), entry).toString('hex')).toBe('acf108cd7565657441ad6ff48b534810e8d481536f060fe866b61295bab5a474');
  });
});
