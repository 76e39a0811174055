import type { HttpApi } from '@parley/client';
import { fromBase64, signRevocationList, toBase64, verifyRevocationList, type RevokedDeviceEntry } from '@parley/crypto';
import type { PracticeKeys, PutRevocationListRequest, RevocationListResponse } from '@parley/protocol';
import { AccountFlowError } from './accounts.js';
import { authoritySignKeys, practiceAuthority } from './authority.js';
import { equal, type RevokedDevices } from './trust.js';

// The practice's signed revocation list, as a client uses it (docs/crypto.md, "Revocation lists"). The server's own
// `revokedAt` on a device is only a claim: a server that re-lists a revoked device cannot also forge this list, and a
// client keeps the highest version it has verified, so it cannot be handed an older list from before the revocation.

/** A verified revocation list: its version and the devices it names, each with when it was revoked (ms since 1970). */
export interface VerifiedRevocationList {
  version: number;
  issuedAt: number;
  entries: readonly RevokedDeviceEntry[];
}

/** What of `GET /api/practice/keys` the list's authority is resolved from. */
type PracticeAuthorityKeys = Partial<Pick<PracticeKeys, 'rootChain' | 'adminKeys'>>;

export interface RevocationStateOptions {
  /**
   * With \`getPracticeKeys\`, a list may be signed by the practice's authority as this device resolves it from the pinned
   * root (its current root, or an admin key that root certified and the last verified list does not name: docs/crypto.md,
   * "Practice authority"); without it, by the pinned root only.
   */
  api: Pick<HttpApi, 'getRevocations'> & Partial<Pick<HttpApi, 'getPracticeKeys'>>;
  /** The practice's ODS code, which every list signs. */
  practiceOdsCode: string;
  /** The practice root public key this device pinned (never from a server answer). */
  pinnedRoot: Uint8Array;
  /** Whether a key the practice's authority does not include may sign lists anyway (the caller's own signing key). */
  isSignerAllowed?: (signerSignPublicKey: Uint8Array) => boolean;
  /** The highest list version this device has verified before (kept by the app, like the record key floor); a lower one is refused. */
  versionFloor?: number;
  /** Called when a higher version was verified, for the app to remember it. */
  onVersionFloor?: (version: number) => void;
}

/**
 * What this device knows of the practice's revocation list: the newest version it verified and the devices it names.
 * `refresh` fetches the server's newest list and takes it only if it verifies under the pinned root (or an allowed
 * admin key) and is not older than the newest this device has seen.
 */
export class RevocationState {
  private list: VerifiedRevocationList | null = null;
  private byDevice = new Map<string, number>();
  private floor: number;

  constructor(private readonly options: RevocationStateOptions) {
    this.floor = options.versionFloor ?? 0;
  }

  /** The newest verified version (0: none yet). */
  get version(): number {
    return this.list?.version ?? 0;
  }

  /** The devices the newest verified list names, by lower-case id, with their `revokedAt`: what the trust functions take. */
  get revoked(): RevokedDevices {
    return this.byDevice;
  }

  /** The newest verified list, or null before one. */
  get current(): VerifiedRevocationList | null {
    return this.list;
  }

  /** Whether the newest verified list names `deviceId` as revoked at `at` (ms since 1970), or at all without `at`. */
  isRevoked(deviceId: string, at?: number): boolean {
    const revokedAt = this.byDevice.get(deviceId.toLowerCase());
    return revokedAt !== undefined && (at === undefined || at >= revokedAt);
  }

  /**
   * Fetches the practice's newest list and takes it when it verifies.
   * @throws AccountFlowError with the gateway's code, `untrusted_revocations` (signed by a key this device does not
   * accept, or for another practice), or `revocations_rolled_back` (older than a version this device has verified,
   * or none where it has seen one)
   */
  async refresh(practiceKeys?: PracticeAuthorityKeys): Promise<VerifiedRevocationList | null> {
    const answer = await this.options.api.getRevocations();
    if (!answer.ok) throw AccountFlowError.of(answer.error);
    return this.accept(answer.data, await this.authority(practiceKeys));
  }

  /**
   * The keys that may sign the practice's list, resolved from the pinned root (never from the server's word alone), from
   * the practice's keys the caller just read (one request fewer) or fetched here.
   */
  private async authority(practiceKeys?: PracticeAuthorityKeys): Promise<Uint8Array[]> {
    const { api, practiceOdsCode, pinnedRoot } = this.options;
    let keys = practiceKeys;
    if (!keys) {
      if (!api.getPracticeKeys) return [pinnedRoot];
      const fetched = await api.getPracticeKeys();
      if (!fetched.ok) throw AccountFlowError.of(fetched.error);
      keys = fetched.data;
    }
    return authoritySignKeys(practiceAuthority(keys, practiceOdsCode, pinnedRoot, this.byDevice));
  }

  /**
   * Takes a list the server answered, if one of \`signers\` (by default the pinned root) signed it and it is not older than
   * what this device has seen.
   * @throws AccountFlowError \`untrusted_revocations\`, \`revocations_rolled_back\`
   */
  accept(answer: RevocationListResponse, signers: readonly Uint8Array[] = [this.options.pinnedRoot]): VerifiedRevocationList | null {
    const { list } = answer;
    if (!list) {
      if (this.floor > 0)
        throw new AccountFlowError('revocations_rolled_back', `the server offers no revocation list, but this device has seen version ${this.floor}`);
      return null;
    }
    if (list.version < this.floor) {
      throw new AccountFlowError(
        'revocations_rolled_back',
        `the server offers revocation list ${list.version}, older than version ${this.floor} this device has seen`,
      );
    }
    const fields = { practiceId: this.options.practiceOdsCode, version: list.version, issuedAt: list.issuedAt, entries: list.entries };
    try {
      const signer = fromBase64(list.signerSignPublicKey);
      const isAllowed = signers.some((key) => equal(key, signer)) || (this.options.isSignerAllowed?.(signer) ?? false);
      if (!isAllowed) throw new AccountFlowError('untrusted_revocations', 'the revocation list is signed by a key this device does not accept');
      verifyRevocationList(fields, fromBase64(list.signature), signer);
    } catch (error) {
      if (error instanceof AccountFlowError) throw error;
      throw new AccountFlowError('untrusted_revocations', 'the revocation list does not verify');
    }
    // The same version twice is the same list (a signature pins its entries); only a newer one replaces it.
    if (this.list && list.version <= this.list.version) return this.list;
    this.list = { version: list.version, issuedAt: list.issuedAt, entries: list.entries.map((entry) => ({ ...entry })) };
    this.byDevice = new Map(list.entries.map((entry) => [entry.deviceId.toLowerCase(), entry.revokedAt]));
    if (list.version > this.floor) {
      this.floor = list.version;
      this.options.onVersionFloor?.(list.version);
    }
    return this.list;
  }
}

/**
 * A manager's client publishes the next version of the practice's list: the newest verified one plus `add` (a device
 * already listed keeps its earlier `revokedAt`), signed with `signerSignSecretKey` (the root today; an admin key the
 * root certified once the practice has one). Retries once on `conflict` (another manager published first).
 * @throws AccountFlowError with the gateway's code, or as `RevocationState.refresh`
 */
export async function publishRevocations(input: {
  api: Pick<HttpApi, 'getRevocations' | 'putRevocations'>;
  state: RevocationState;
  practiceOdsCode: string;
  add: readonly RevokedDeviceEntry[];
  signerSignPublicKey: Uint8Array;
  signerSignSecretKey: Uint8Array;
  now?: () => number;
}): Promise<VerifiedRevocationList> {
  const now = input.now ?? Date.now;
  for (let attempt = 0; ; attempt++) {
    const newest = await input.state.refresh();
    const entries = new Map((newest?.entries ?? []).map((entry) => [entry.deviceId.toLowerCase(), entry.revokedAt]));
    for (const entry of input.add) if (!entries.has(entry.deviceId.toLowerCase())) entries.set(entry.deviceId.toLowerCase(), entry.revokedAt);
    const fields = {
      practiceId: input.practiceOdsCode,
      version: (newest?.version ?? input.state.version) + 1,
      issuedAt: now(),
      entries: [...entries].map(([deviceId, revokedAt]) => ({ deviceId, revokedAt })),
    };
    const body: PutRevocationListRequest = {
      version: fields.version,
      issuedAt: fields.issuedAt,
      entries: fields.entries,
      signerSignPublicKey: toBase64(input.signerSignPublicKey),
      signature: toBase64(signRevocationList(fields, input.signerSignSecretKey)),
    };
    const stored = await input.api.putRevocations(body);
    // The list this client just signed and the server stored: its own key is the one to check it under.
    if (stored.ok) return input.state.accept({ list: { ...body, practiceOdsCode: input.practiceOdsCode } }, [input.signerSignPublicKey]) ?? fields;
    if (stored.error.code !== 'conflict' || attempt > 0) throw AccountFlowError.of(stored.error);
  }
}
