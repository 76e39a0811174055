/** The object stores of the Parley browser database, one per kind of thing kept. */
export const STORES = {
  /** Non-extractable AES-GCM keys (CryptoKey objects), by vault slot. */
  wrappingKeys: 'wrapping-keys',
  /** Encrypted vault records `{ iv, ciphertext }`, by vault slot. */
  vault: 'vault',
  /** Outbox items by `[scope, clientMessageId]`: ciphertext already, as the server will see it. */
  outbox: 'outbox',
  /** Feed cursors (last seq handed to the app) by `[scope, conversationId]`. */
  cursors: 'cursors',
} as const;

type StoreName = (typeof STORES)[keyof typeof STORES];

/** Name of the IndexedDB database both web apps use unless told otherwise. */
export const DEFAULT_DATABASE_NAME = 'parley';
const VERSION = 1;

/** Resolves with a request's result, rejects with its error. */
export function settle<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

/** Resolves once a transaction committed, rejects if it aborted. */
function committed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
    transaction.onerror = () => reject(transaction.error ?? new Error('IndexedDB transaction failed'));
  });
}

/**
 * The browser's IndexedDB database for Parley: opened once per page and shared by the device vault,
 * the outbox store and the feed cursor store. Browser only.
 */
export class WebDatabase {
  private constructor(
    private readonly db: IDBDatabase,
    /** The database name, e.g. to delete it. */
    readonly name: string,
  ) {
    // Another tab upgrading (a newer app version) must not be blocked by this one: close and let it.
    db.onversionchange = () => db.close();
  }

  /** Opens (creating or upgrading) the database. Rejects when IndexedDB is unavailable (e.g. some private modes). */
  static async open(name: string = DEFAULT_DATABASE_NAME): Promise<WebDatabase> {
    const request = indexedDB.open(name, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const store of [STORES.wrappingKeys, STORES.vault]) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
      if (!db.objectStoreNames.contains(STORES.outbox)) db.createObjectStore(STORES.outbox, { keyPath: ['scope', 'clientMessageId'] });
      if (!db.objectStoreNames.contains(STORES.cursors)) db.createObjectStore(STORES.cursors, { keyPath: ['scope', 'conversationId'] });
    };
    return new WebDatabase(await settle(request), name);
  }

  /** Deletes the whole database (sign-out, "forget this device"); resolves even if it did not exist. */
  static async delete(name: string = DEFAULT_DATABASE_NAME): Promise<void> {
    await settle(indexedDB.deleteDatabase(name) as IDBRequest<unknown>);
  }

  /** Reads one value by key. */
  async get<T>(store: StoreName, key: IDBValidKey): Promise<T | undefined> {
    return (await settle(this.db.transaction(store, 'readonly').objectStore(store).get(key))) as T | undefined;
  }

  /** Every value whose key lies in `range`. */
  async getAll<T>(store: StoreName, range?: IDBKeyRange): Promise<T[]> {
    return (await settle(this.db.transaction(store, 'readonly').objectStore(store).getAll(range))) as T[];
  }

  /** Writes one value (with an explicit key for stores without a key path); resolves once committed. */
  async put(store: StoreName, value: unknown, key?: IDBValidKey): Promise<void> {
    const transaction = this.db.transaction(store, 'readwrite');
    transaction.objectStore(store).put(value, key);
    await committed(transaction);
  }

  /** Deletes a key or a key range; resolves once committed. */
  async delete(store: StoreName, key: IDBValidKey | IDBKeyRange): Promise<void> {
    const transaction = this.db.transaction(store, 'readwrite');
    transaction.objectStore(store).delete(key);
    await committed(transaction);
  }

  /** Empties every store in one transaction: nothing of any user stays behind. */
  async clearAll(): Promise<void> {
    const names = Object.values(STORES);
    const transaction = this.db.transaction(names, 'readwrite');
    for (const name of names) transaction.objectStore(name).clear();
    await committed(transaction);
  }

  /** Closes the connection; later calls fail. */
  close(): void {
    this.db.close();
  }
}

/** The key range of every `[scope, …]` compound key of one scope. */
export function scopeRange(scope: string): IDBKeyRange {
  return IDBKeyRange.bound([scope], [scope, []]);
}
