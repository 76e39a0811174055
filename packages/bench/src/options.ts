/** The scenarios, by the names `--only` takes. */
export const SCENARIOS = ['crypto', 'baselines', 'max-rate', 'fixed-rate', 'pipelined', 'idle', 'queue', 'two-nodes', 'attachments', 'bundle'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** Scenarios whose section of the doc stands alone (it names its own commit): `--only` of these may write it with `--doc`. */
export const SECTION_SCENARIOS: readonly ScenarioName[] = ['attachments'];

/** Everything a bench run is parameterised by. */
export interface BenchOptions {
  mode: 'full' | 'quick' | 'smoke';
  only: ScenarioName[] | undefined;
  comparePath: string | undefined;
  /** Where the JSON goes; the doc and charts are written only by full runs unless `writeDoc` says otherwise. */
  outPath: string;
  writeDoc: boolean;
  /** `--allow-dirty`: a full run on a tree with uncommitted changes, for development; its report says so and never becomes the doc. */
  allowDirty: boolean;
  pairs: number;
  workers: number;
  runs: number;
  window: number;
  maxDurationMs: number;
  maxWarmupMs: number;
  fixedDurationMs: number;
  fixedWarmupMs: number;
  /** Fractions of the measured maximum, plus absolute rates (msgs/s) the targets name. */
  fixedFractions: number[];
  /** Fractions of the bare relay's measured maximum (issue #16: p99 send→ack at 50 % of the relay's max). */
  fixedRelayFractions: number[];
  fixedAbsolute: number[];
  /** Pipelined scenario: senders, their windows (sends in flight without waiting for acks), messages per sender per window, random disconnects per window. */
  pipelinedSenders: number;
  pipelinedWindows: number[];
  pipelinedMessages: number;
  pipelinedDisconnects: number;
  idleSockets: number;
  idleSettleMs: number;
  idleLagWindowMs: number;
  queuePatients: number;
  queueClinicians: number;
  queueSpreadMs: number;
  cryptoIterations: number;
  /**
   * Attachments scenario (issue #18): uploaders at once, each sending one file of `attachmentFileBytes` plaintext (its
   * ciphertext in 65,553-byte parts) per run, to the gateway and to the baseline's plain upload route, interleaved;
   * then `attachmentsHeld` uploads with one part half written, for memory per upload in flight.
   */
  attachmentUploaders: number;
  attachmentFileBytes: number;
  attachmentsHeld: number;
  attachmentHoldMs: number;
  profile: boolean;
}

const FULL: Omit<BenchOptions, 'mode' | 'only' | 'comparePath' | 'outPath' | 'writeDoc' | 'allowDirty'> = {
  pairs: 200,
  workers: 2,
  runs: 3,
  window: 2,
  maxDurationMs: 6_000,
  maxWarmupMs: 1_500,
  fixedDurationMs: 4_000,
  fixedWarmupMs: 1_000,
  fixedFractions: [0.25, 0.5, 0.75],
  fixedRelayFractions: [0.5],
  fixedAbsolute: [],
  pipelinedSenders: 20,
  pipelinedWindows: [8, 32],
  pipelinedMessages: 200,
  pipelinedDisconnects: 10,
  idleSockets: 10_000,
  idleSettleMs: 3_000,
  idleLagWindowMs: 5_000,
  queuePatients: 1_000,
  queueClinicians: 20,
  queueSpreadMs: 2_000,
  cryptoIterations: 2_000,
  attachmentUploaders: 16,
  attachmentFileBytes: 4 * 2 ** 20,
  attachmentsHeld: 100,
  attachmentHoldMs: 2_000,
  profile: true,
};

const QUICK: typeof FULL = {
  ...FULL,
  pairs: 20,
  runs: 1,
  maxDurationMs: 3_000,
  maxWarmupMs: 500,
  fixedDurationMs: 2_000,
  fixedWarmupMs: 500,
  idleSockets: 400,
  idleSettleMs: 1_000,
  idleLagWindowMs: 1_500,
  queuePatients: 60,
  queueClinicians: 4,
  queueSpreadMs: 1_000,
  cryptoIterations: 300,
  pipelinedMessages: 100,
  pipelinedDisconnects: 4,
  attachmentUploaders: 8,
  attachmentsHeld: 32,
  attachmentHoldMs: 1_000,
};

/** The jest smoke form: tiny counts, every scenario still produces every figure. */
const SMOKE: typeof FULL = {
  ...QUICK,
  pairs: 4,
  maxDurationMs: 1_000,
  maxWarmupMs: 200,
  fixedDurationMs: 800,
  fixedWarmupMs: 200,
  fixedFractions: [0.5],
  fixedRelayFractions: [0.5],
  fixedAbsolute: [],
  pipelinedMessages: 40,
  pipelinedDisconnects: 2,
  idleSockets: 40,
  idleSettleMs: 200,
  idleLagWindowMs: 300,
  queuePatients: 12,
  queueClinicians: 3,
  queueSpreadMs: 200,
  cryptoIterations: 50,
  attachmentUploaders: 2,
  attachmentFileBytes: 256 * 1024,
  attachmentsHeld: 4,
  attachmentHoldMs: 300,
  profile: false,
};

/** Parses `pnpm bench` arguments. @throws Error on an unknown flag or scenario */
export function parseOptions(argv: readonly string[], defaultOut: (mode: BenchOptions['mode']) => string): BenchOptions {
  let mode: BenchOptions['mode'] = 'full';
  let only: ScenarioName[] | undefined;
  let comparePath: string | undefined;
  let outPath: string | undefined;
  let writeDoc: boolean | undefined;
  let allowDirty = false;
  const overrides: Partial<typeof FULL> = {};
  const args = [...argv];
  const value = (flag: string) => {
    const next = args.shift();
    if (next === undefined) throw new Error(`${flag} needs a value`);
    return next;
  };
  while (args.length > 0) {
    const arg = args.shift()!;
    if (arg === '--') continue;
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--smoke') mode = 'smoke';
    else if (arg === '--only') {
      only = value(arg)
        .split(',')
        .map((name) => {
          if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario ${name} (one of ${SCENARIOS.join(', ')})`);
          return name as ScenarioName;
        });
    } else if (arg === '--compare') comparePath = value(arg);
    else if (arg === '--out') outPath = value(arg);
    else if (arg === '--doc') writeDoc = true;
    else if (arg === '--no-doc') writeDoc = false;
    else if (arg === '--allow-dirty') allowDirty = true;
    else if (arg === '--pairs') overrides.pairs = positive(value(arg), arg);
    else if (arg === '--workers') overrides.workers = positive(value(arg), arg);
    else if (arg === '--runs') overrides.runs = positive(value(arg), arg);
    else if (arg === '--idle-sockets') overrides.idleSockets = positive(value(arg), arg);
    else if (arg === '--queue-patients') overrides.queuePatients = positive(value(arg), arg);
    else if (arg === '--queue-clinicians') overrides.queueClinicians = positive(value(arg), arg);
    else if (arg === '--no-profile') overrides.profile = false;
    else if (arg === '--help' || arg === '-h') throw new Error(USAGE);
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  // A partial run may rewrite only sections that stand alone: the rest of the doc must stay one full run's, of one commit.
  if (writeDoc && only?.some((name) => !SECTION_SCENARIOS.includes(name)))
    throw new Error(`--doc with --only: only ${SECTION_SCENARIOS.join(', ')} can be written alone; every other section comes from a full run`);
  const base = mode === 'quick' ? QUICK : mode === 'smoke' ? SMOKE : FULL;
  return {
    ...base,
    ...overrides,
    mode,
    only,
    comparePath,
    outPath: outPath ?? defaultOut(mode),
    allowDirty,
    // Only a full run of every scenario rewrites docs/benchmarks.md unless asked; a run allowed on a dirty tree never does.
    writeDoc: !allowDirty && (writeDoc ?? (mode === 'full' && only === undefined)),
  };
}

function positive(text: string, flag: string): number {
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1) throw new Error(`${flag} takes a positive integer`);
  return number;
}

export const USAGE = `usage: pnpm bench [--quick|--smoke] [--only ${SCENARIOS.join(',')}] [--compare previous.json] [--out file.json] [--doc|--no-doc] [--allow-dirty]
                  (--doc with --only: ${SECTION_SCENARIOS.join(', ')} alone, rewriting only its section)
                  [--pairs N] [--workers N] [--runs N] [--idle-sockets N] [--queue-patients N] [--queue-clinicians N] [--no-profile]`;

/** Whether a scenario is part of this run. */
export function includes(options: BenchOptions, scenario: ScenarioName): boolean {
  return options.only === undefined || options.only.includes(scenario);
}
