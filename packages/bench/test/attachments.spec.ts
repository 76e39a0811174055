import { cpuMsPerMb, heldFigure, mbPerSecond, partRanges, summariseUploadRun, summariseUploads, type UploadRunInput } from '../src/attachment-figures.js';
import { attachmentsSection } from '../src/attachments-report.js';
import type { BenchResults } from '../src/bench.js';
import { ATTACHMENTS_SECTION, FIRST_LOAD_SECTION, markedSection, sectionOf, withSection } from '../src/doc-sections.js';
import { parseOptions } from '../src/options.js';

/** A run of 4 uploads of 1,000,000 bytes that took 2 s, with made-up CPU figures. */
const aRun = (overrides: Partial<UploadRunInput> = {}): UploadRunInput => ({
  bytes: 4_000_000,
  uploads: 4,
  failed: 0,
  errors: {},
  startAt: 1_000,
  finishedAt: 3_000,
  partMs: [1, 2, 3, 4],
  controlMs: [5, 6],
  serverCpuMs: 800,
  pgCpuMs: 400,
  clientCpuMs: 200,
  ...overrides,
});

describe('partRanges', () => {
  it('cuts a ciphertext into parts of one secretstream chunk, the last one shorter', () => {
    // 3 full chunks of 65,536 + 17 bytes, and a last chunk of 10 + 17.
    const cipherBytes = 3 * 65_553 + 27;

    expect(partRanges(cipherBytes, 65_553)).toEqual([
      [0, 65_553],
      [65_553, 131_106],
      [131_106, 196_659],
      [196_659, 196_686],
    ]);
  });

  it('makes one part of a ciphertext shorter than a part, and exactly n parts of n × part bytes', () => {
    expect(partRanges(17, 65_553)).toEqual([[0, 17]]);
    expect(partRanges(2 * 65_553, 65_553)).toHaveLength(2);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => partRanges(0, 65_553)).toThrow(/cipherBytes/);
    expect(() => partRanges(100, 0)).toThrow(/partBytes/);
    expect(() => partRanges(1.5, 65_553)).toThrow(/cipherBytes/);
  });
});

describe('mbPerSecond and cpuMsPerMb', () => {
  it('divides bytes (MB of 10^6) by seconds, and CPU by MB', () => {
    expect(mbPerSecond(4_000_000, 2_000)).toBe(2);
    expect(cpuMsPerMb(800, 4_000_000)).toBe(200);
  });

  it('gives 0 MB/s and no CPU per MB when nothing was moved', () => {
    expect(mbPerSecond(0, 2_000)).toBe(0);
    expect(mbPerSecond(4_000_000, 0)).toBe(0);
    expect(cpuMsPerMb(800, 0)).toBeUndefined();
    expect(cpuMsPerMb(undefined, 4_000_000)).toBeUndefined();
  });
});

describe('summariseUploadRun', () => {
  it('counts the time from the common start to the last upload’s end', () => {
    const run = summariseUploadRun(aRun());

    expect(run.seconds).toBe(2);
    expect(run.mbPerSec).toBe(2);
    expect(run.part).toMatchObject({ count: 4, p50: 2, max: 4 });
    expect(run.control).toMatchObject({ count: 2, p50: 5 });
    expect(run).not.toHaveProperty('partMs');
  });
});

describe('summariseUploads', () => {
  it('takes the median of the runs’ MB/s and of their own CPU per MB', () => {
    const runs = [
      summariseUploadRun(aRun()),
      summariseUploadRun(aRun({ finishedAt: 5_000, serverCpuMs: 1_200, pgCpuMs: 600 })),
      summariseUploadRun(aRun({ finishedAt: 2_000, serverCpuMs: 400, pgCpuMs: 200 })),
    ];

    const figure = summariseUploads(runs);

    expect(figure.mbPerSec).toBe(2);
    expect(figure.serverCpuMsPerMb).toBe(200);
    expect(figure.pgCpuMsPerMb).toBe(100);
    expect(figure.totalCpuMsPerMb).toBe(300);
    expect(figure.clientCpuMsPerMb).toBe(50);
  });

  it('has no PostgreSQL figure when a run could not read PostgreSQL’s processes', () => {
    const figure = summariseUploads([summariseUploadRun(aRun()), summariseUploadRun(aRun({ pgCpuMs: undefined }))]);

    expect(figure.pgCpuMsPerMb).toBeUndefined();
    expect(figure.totalCpuMsPerMb).toBeUndefined();
  });
});

describe('heldFigure', () => {
  const MiB = 2 ** 20;

  it('divides the growth of RSS and of heap + buffers by the uploads held', () => {
    const figure = heldFigure({ rssBytes: 100 * MiB, heapBytes: 40 * MiB }, { rssBytes: 110 * MiB, heapBytes: 44 * MiB }, 64, { '204': 64 });

    expect(figure.rssPerUploadBytes).toBe((10 * MiB) / 64);
    expect(figure.heapPerUploadBytes).toBe((4 * MiB) / 64);
  });

  it('says 0 per upload when none was held, and lets RSS fall when the process reused freed pages', () => {
    expect(heldFigure({ rssBytes: 100, heapBytes: 10 }, { rssBytes: 200, heapBytes: 20 }, 0, {}).heapPerUploadBytes).toBe(0);
    expect(heldFigure({ rssBytes: 200, heapBytes: 10 }, { rssBytes: 100, heapBytes: 20 }, 10, {}).rssPerUploadBytes).toBe(-10);
  });
});

describe('the attachments section of the doc', () => {
  const meta = { date: '2026-12-05T11:00:00.000Z', command: 'pnpm bench --only attachments --doc', mode: 'full', runs: 3, commit: 'abc1234', isDirty: false };
  const doc = [
    '# Benchmarks',
    '',
    markedSection(ATTACHMENTS_SECTION, 'old attachments'),
    '',
    markedSection(FIRST_LOAD_SECTION, 'first load'),
    '',
    '## Reproduce',
    '',
  ].join('\n');

  it('is rewritten alone, leaving the rest of the doc as it was', () => {
    const updated = withSection(doc, ATTACHMENTS_SECTION, 'new attachments');

    expect(sectionOf(updated, ATTACHMENTS_SECTION)).toBe('new attachments');
    expect(updated.replace('new attachments', 'old attachments')).toBe(doc);
  });

  it('is inserted before "## Reproduce" in a doc that has none yet', () => {
    const updated = withSection('# Benchmarks\n\n## Reproduce\n', ATTACHMENTS_SECTION, 'attachments');

    expect(updated.indexOf(ATTACHMENTS_SECTION.begin)).toBeLessThan(updated.indexOf('## Reproduce'));
    expect(sectionOf(updated, ATTACHMENTS_SECTION)).toBe('attachments');
  });

  it('sets the gateway beside the plain upload: MB/s, the ratio, CPU per MB and memory per upload in flight', () => {
    const plain = summariseUploads([summariseUploadRun(aRun())]);
    const gateway = summariseUploads([summariseUploadRun(aRun({ finishedAt: 5_000, serverCpuMs: 2_000, pgCpuMs: 800 }))]);
    const held = (perUpload: number) =>
      heldFigure({ rssBytes: 2 ** 27, heapBytes: 2 ** 24 }, { rssBytes: 2 ** 27, heapBytes: 2 ** 24 + 100 * perUpload }, 100, { '204': 100 });
    const attachments = {
      uploaders: 4,
      contentType: 'image/jpeg',
      fileBytes: 2 ** 20,
      cipherBytes: 1_048_848,
      partBytes: 65_553,
      parts: 16,
      parley: gateway,
      baseline: plain,
      ratio: 0.5,
      held: { requested: 100, holdMs: 2_000, parley: held(50 * 1024), baseline: held(32 * 1024) },
      readBack: { status: 200, isIdentical: true, cacheControl: 'no-store' },
    };
    const results = { meta, skipped: [], attachments } as unknown as BenchResults;

    const section = attachmentsSection(results);

    expect(section).toContain('| **Parley gateway** (upload routes) | 1 | 0.50× |');
    expect(section).toContain('| 500 | 200 | **700** |');
    expect(section).toContain('| **Parley gateway** | 100 | 16 MiB → 20.9 MiB | **50 KB** |');
    expect(section).toContain('status 200, the same bytes as uploaded, `Cache-Control: no-store`');
  });

  it('names the commit and command it measured, and says why it has no figures when the scenario failed', () => {
    const results = { meta, skipped: [{ scenario: 'attachments', reason: 'failed: create 403 forbidden' }] } as unknown as BenchResults;

    const section = attachmentsSection(results);

    expect(section).toContain('at commit **abc1234**');
    expect(section).toContain('`pnpm bench --only attachments --doc`');
    expect(section).toContain('Not measured: failed: create 403 forbidden.');
  });
});

describe('parseOptions and the doc', () => {
  const out = (mode: string) => `/results/${mode}.json`;

  it('takes the attachments scenario alone, without the doc unless asked', () => {
    expect(parseOptions(['--only', 'attachments'], out)).toMatchObject({ only: ['attachments'], writeDoc: false });
    expect(parseOptions(['--only', 'attachments', '--doc'], out).writeDoc).toBe(true);
  });

  it('refuses --doc for a partial run of a scenario whose section does not stand alone', () => {
    expect(() => parseOptions(['--only', 'attachments,max-rate', '--doc'], out)).toThrow(/only attachments can be written alone/);
    expect(() => parseOptions(['--only', 'pipelined', '--doc'], out)).toThrow(/--doc with --only/);
  });

  it('sizes the attachments scenario down for --quick and --smoke', () => {
    const [full, quick, smoke] = [[], ['--quick'], ['--smoke']].map((argv) => parseOptions(argv, out));

    expect(full!.attachmentUploaders).toBeGreaterThan(quick!.attachmentUploaders);
    expect(quick!.attachmentUploaders).toBeGreaterThan(smoke!.attachmentUploaders);
    expect(smoke!.attachmentFileBytes).toBeLessThan(full!.attachmentFileBytes);
  });
});
