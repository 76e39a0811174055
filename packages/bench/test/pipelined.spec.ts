import { addCounts, countPipelined, NO_ANOMALIES, type StoredSend } from '../src/pipelined.js';
import { parseOptions } from '../src/options.js';
import { backendDatabase } from '../src/postgres-cpu.js';

/** A stored message of the sender: `seq` in the record, `senderDeviceSeq` and id as sent (ids `m<senderDeviceSeq>`). */
const stored = (seq: number, senderDeviceSeq: number, clientMessageId = `m${senderDeviceSeq}`): StoredSend => ({ seq, senderDeviceSeq, clientMessageId });
const ids = (...numbers: number[]) => new Set(numbers.map((number) => `m${number}`));

describe('countPipelined', () => {
  it('finds nothing in a record stored in the order sent', () => {
    const record = [stored(11, 1), stored(12, 2), stored(13, 3), stored(14, 4)];

    expect(countPipelined(record, ids(1, 2, 3, 4), ids(1, 2, 3, 4))).toEqual(NO_ANOMALIES);
  });

  it('counts each message stored after a later one of the same sender as out of order (the issue’s 1 2 5 4 6 3 …)', () => {
    // Sender sequences along seq: 1 2 5 4 6 3 7 8 — 4 and 3 came after higher ones.
    const record = [1, 2, 5, 4, 6, 3, 7, 8].map((senderDeviceSeq, index) => stored(100 + index, senderDeviceSeq));

    expect(countPipelined(record, ids(1, 2, 3, 4, 5, 6, 7, 8), ids(1, 2, 3, 4, 5, 6, 7, 8))).toEqual({ ...NO_ANOMALIES, outOfOrder: 2 });
  });

  it('reads the record in seq order whatever order it is given in', () => {
    const record = [stored(3, 3), stored(1, 2), stored(2, 1)];

    expect(countPipelined(record, ids(1, 2, 3), ids(1, 2, 3)).outOfOrder).toBe(1);
  });

  it('counts sends absent from the record as lost, and which of them had been acknowledged', () => {
    const record = [stored(1, 1), stored(2, 3)];

    expect(countPipelined(record, ids(1, 2, 3, 4), ids(1, 2, 3))).toEqual({ ...NO_ANOMALIES, lost: 2, lostAcked: 1 });
  });

  it('counts every extra copy of a clientMessageId as duplicated, not again as out of order', () => {
    // A resend after a reconnect stored a second time, after later messages.
    const record = [stored(1, 1), stored(2, 2), stored(3, 3), stored(4, 2), stored(5, 2)];

    expect(countPipelined(record, ids(1, 2, 3), ids(1, 2, 3))).toEqual({ ...NO_ANOMALIES, duplicated: 2 });
  });

  it('leaves out the sender’s messages of earlier runs', () => {
    const record = [stored(1, 9, 'earlier'), stored(2, 1), stored(3, 2)];

    expect(countPipelined(record, ids(1, 2), ids(1, 2))).toEqual(NO_ANOMALIES);
  });

  it('adds up the senders of one window', () => {
    expect(addCounts({ outOfOrder: 1, lost: 2, lostAcked: 1, duplicated: 0 }, { outOfOrder: 3, lost: 0, lostAcked: 0, duplicated: 4 })).toEqual({
      outOfOrder: 4,
      lost: 2,
      lostAcked: 1,
      duplicated: 4,
    });
  });
});

describe('backendDatabase', () => {
  it('names the database of a client backend, with or without a cluster name in the title', () => {
    expect(backendDatabase('postgres: postgres test_abc 127.0.0.1(54321) idle')).toBe('test_abc');
    expect(backendDatabase('postgres: 15/main: postgres bench_x 127.0.0.1(40000) INSERT')).toBe('bench_x');
    expect(backendDatabase('postgres: postgres other [local] idle')).toBe('other');
  });

  it('names none for an auxiliary process', () => {
    expect(backendDatabase('postgres: 15/main: checkpointer ')).toBeUndefined();
    expect(backendDatabase('postgres: walwriter')).toBeUndefined();
    expect(backendDatabase('postgres: autovacuum launcher')).toBeUndefined();
  });
});

describe('parseOptions', () => {
  const out = (mode: string) => `/results/${mode}.json`;

  it('writes the doc for a full run of every scenario only', () => {
    expect(parseOptions([], out)).toMatchObject({ mode: 'full', writeDoc: true, allowDirty: false, outPath: '/results/full.json' });
    expect(parseOptions(['--only', 'pipelined'], out).writeDoc).toBe(false);
    expect(parseOptions(['--quick'], out)).toMatchObject({ writeDoc: false, outPath: '/results/quick.json' });
  });

  it('never writes the doc for a run allowed on a dirty tree, even when asked', () => {
    expect(parseOptions(['--allow-dirty'], out)).toMatchObject({ allowDirty: true, writeDoc: false });
    expect(parseOptions(['--allow-dirty', '--doc'], out).writeDoc).toBe(false);
  });

  it('runs the pipelined scenario at windows 8 and 32 in every mode, and refuses an unknown scenario', () => {
    for (const mode of [[], ['--quick'], ['--smoke']]) expect(parseOptions(mode, out).pipelinedWindows).toEqual([8, 32]);
    expect(() => parseOptions(['--only', 'pipelines'], out)).toThrow(/unknown scenario pipelines/);
  });
});
