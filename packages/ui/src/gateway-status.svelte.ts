import { contextPair } from './context';

/** What the status line says about the practice's server. */
export type GatewayStatusValue = 'checking' | 'online' | 'incompatible' | 'offline';

/** Whether the practice's server can be reached, for the status line every screen shows. */
export class GatewayStatus {
  status = $state<GatewayStatusValue>('checking');
  readonly #check: () => Promise<{ isCompatible: boolean }>;

  /** @param check asks the server whether it speaks this app's protocol; it rejects when the server cannot be reached. */
  constructor(check: () => Promise<{ isCompatible: boolean }>) {
    this.#check = check;
  }

  /** Checks the server again; never rejects (an unreachable server is the `offline` status). */
  async refresh(): Promise<void> {
    this.status = 'checking';
    try {
      const { isCompatible } = await this.#check();
      this.status = isCompatible ? 'online' : 'incompatible';
    } catch {
      this.status = 'offline';
    }
  }
}

/** Provides the app's one {@link GatewayStatus} to the components below (the status line reads it). */
export const [setGatewayStatus, getGatewayStatus] = contextPair<GatewayStatus>('gateway-status');
