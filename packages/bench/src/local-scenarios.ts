import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_KDF_PARAMS, createEpochKey, deriveAccountKeys, generateDeviceKeys, generatePatientAccountKeys, newSalt, ready } from '@parley/crypto';
import type { RecordEntry } from '@parley/protocol';
import { decryptEntry, encryptForSend, newEpoch } from '@parley/sdk';
import { REPO_ROOT } from './environment.js';
import { median } from './stats.js';

/** Per-operation costs of the client crypto in Node, median of `runs` runs. */
export interface CryptoFigures {
  encryptSignUs: number;
  verifyDecryptUs: number;
  openEnvelopesUs: number;
  passphraseDerivationMs: number;
  kdf: string;
}

/** Times encrypt+sign and verify+decrypt of one message (the sdk functions the apps use), envelope sealing for an open, and the production Argon2id derivation. */
export async function measureCrypto(iterations: number, runs: number): Promise<CryptoFigures> {
  await ready();
  const device = generateDeviceKeys();
  const conversation = { id: crypto.randomUUID(), practiceOdsCode: 'BENCH1', patientId: crypto.randomUUID() };
  const epochKey = createEpochKey();
  const body = 'Hello, I would like to ask about my repeat prescription for next week, and whether I need a review first. Thank you very much.';
  const sender = { userId: conversation.patientId, deviceId: crypto.randomUUID(), role: 'patient' as const, signSecretKey: device.signSecretKey };
  const encryptRuns: number[] = [];
  const decryptRuns: number[] = [];
  const envelopeRuns: number[] = [];
  const kdfRuns: number[] = [];
  for (let run = 0; run < runs; run++) {
    const sends = [];
    let started = performance.now();
    for (let index = 0; index < iterations; index++) {
      sends.push(encryptForSend({ conversation, epoch: 1, epochKey, sender, senderDeviceSeq: index + 1, clientMessageId: crypto.randomUUID(), body }));
    }
    encryptRuns.push(((performance.now() - started) * 1000) / iterations);
    const entries: RecordEntry[] = sends.map((send, index) => ({
      conversationId: conversation.id,
      seq: index + 1,
      kind: 'message',
      serverTime: new Date().toISOString(),
      hash: '',
      message: {
        epoch: 1,
        senderUserId: sender.userId,
        senderDeviceId: sender.deviceId,
        senderRole: 'patient',
        senderDeviceSeq: send.senderDeviceSeq,
        clientMessageId: send.clientMessageId,
        contentType: 'text',
        ciphertext: send.ciphertext,
        nonce: send.nonce,
      },
    }));
    started = performance.now();
    for (const entry of entries) decryptEntry({ conversation, entry, epochKey, senderSignPublicKey: device.signPublicKey });
    decryptRuns.push(((performance.now() - started) * 1000) / iterations);
    const account = generatePatientAccountKeys();
    const record = generateDeviceKeys();
    const envelopeIterations = Math.max(10, Math.floor(iterations / 10));
    started = performance.now();
    for (let index = 0; index < envelopeIterations; index++) {
      newEpoch({
        conversationId: crypto.randomUUID(),
        epoch: 1,
        targets: [
          { recipient: { kind: 'device', deviceId: sender.deviceId }, boxPublicKey: device.boxPublicKey },
          { recipient: { kind: 'account', userId: sender.userId }, boxPublicKey: account.boxPublicKey },
          { recipient: { kind: 'record', version: 1 }, boxPublicKey: record.boxPublicKey },
        ],
        creatorSignSecretKey: device.signSecretKey,
      });
    }
    envelopeRuns.push(((performance.now() - started) * 1000) / envelopeIterations);
    started = performance.now();
    deriveAccountKeys('correct horse battery staple orbit', newSalt(), DEFAULT_KDF_PARAMS);
    kdfRuns.push(performance.now() - started);
  }
  return {
    encryptSignUs: median(encryptRuns),
    verifyDecryptUs: median(decryptRuns),
    openEnvelopesUs: median(envelopeRuns),
    passphraseDerivationMs: median(kdfRuns),
    kdf: `Argon2id, ${DEFAULT_KDF_PARAMS.opsLimit} passes over ${Math.round(DEFAULT_KDF_PARAMS.memLimit / 2 ** 20)} MiB`,
  };
}

/** The patient app's first screen JavaScript, gzipped, and libsodium's lazily loaded chunk(s). */
export interface BundleFigures {
  status: 'measured' | 'not built';
  note?: string;
  firstScreenGzipBytes: number;
  firstScreenFiles: { file: string; bytes: number; gzipBytes: number }[];
  lazySodiumGzipBytes: number;
  lazySodiumFiles: { file: string; bytes: number; gzipBytes: number }[];
  allJsGzipBytes: number;
}

/**
 * Builds apps/patient (turbo, cached when unchanged) and sizes it: the scripts and modulepreloads that index.html
 * names are the first screen; chunks holding libsodium that it does not name are loaded when needed.
 */
export function measureBundle(shouldBuild: boolean): BundleFigures {
  const dist = join(REPO_ROOT, 'apps/patient/dist');
  let note: string | undefined;
  if (shouldBuild) {
    const turbo = join(REPO_ROOT, 'node_modules/.bin/turbo');
    const build = spawnSync(turbo, ['run', 'build', '--filter=@parley/patient', '--output-logs=errors-only'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env['PATH'] ?? ''}` },
      timeout: 300_000,
    });
    if (build.status !== 0)
      note = `the patient app's build failed (${(build.stderr || build.stdout).trim().split('\n').slice(-3).join(' / ')}); sizes are of the last build on disk`;
  }
  const indexPath = join(dist, 'index.html');
  if (!existsSync(indexPath)) {
    return {
      status: 'not built',
      note: note ?? 'apps/patient/dist/index.html is missing',
      firstScreenGzipBytes: 0,
      firstScreenFiles: [],
      lazySodiumGzipBytes: 0,
      lazySodiumFiles: [],
      allJsGzipBytes: 0,
    };
  }
  const html = readFileSync(indexPath, 'utf8');
  const referenced = new Set<string>();
  for (const match of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"[^>]*>/g)) referenced.add(match[1]!);
  for (const match of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*>/g)) {
    const href = match[0].match(/\bhref="([^"]+)"/)?.[1];
    if (href) referenced.add(href);
  }
  const size = (file: string) => {
    const bytes = readFileSync(join(dist, file));
    return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
  };
  const toFile = (url: string) => url.replace(/^(\.\/|\/)/, '').replace(/^.*?\/?(assets\/)/, '$1');
  const firstScreenFiles = [...referenced]
    .map(toFile)
    .filter((file) => file.endsWith('.js') && existsSync(join(dist, file)))
    .map(size);
  const firstNames = new Set(firstScreenFiles.map((entry) => entry.file));
  const jsFiles = listJs(dist);
  const lazySodiumFiles = jsFiles
    .filter((file) => !firstNames.has(file))
    .filter((file) => /sodium/i.test(file) || readFileSync(join(dist, file), 'utf8').includes('libsodium'))
    .map(size);
  const wasm = listFiles(dist)
    .filter((file) => file.endsWith('.wasm'))
    .map(size);
  return {
    status: 'measured',
    note,
    firstScreenGzipBytes: firstScreenFiles.reduce((sum, entry) => sum + entry.gzipBytes, 0),
    firstScreenFiles,
    lazySodiumGzipBytes: [...lazySodiumFiles, ...wasm].reduce((sum, entry) => sum + entry.gzipBytes, 0),
    lazySodiumFiles: [...lazySodiumFiles, ...wasm],
    allJsGzipBytes: jsFiles.map(size).reduce((sum, entry) => sum + entry.gzipBytes, 0),
  };
}

function listFiles(root: string, prefix = ''): string[] {
  return readdirSync(join(root, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(root, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

function listJs(root: string): string[] {
  return listFiles(root).filter((file) => file.endsWith('.js'));
}
