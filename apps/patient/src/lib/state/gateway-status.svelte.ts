import { getContext, setContext } from 'svelte';
import { checkGateway } from '../connection';

type Status = 'checking' | 'online' | 'incompatible' | 'offline';

/** Whether the practice's server can be reached, for the status line every screen shows. */
export class GatewayStatus {
  status = $state<Status>('checking');

  async refresh(): Promise<void> {
    this.status = 'checking';
    try {
      const { isCompatible } = await checkGateway();
      this.status = isCompatible ? 'online' : 'incompatible';
    } catch {
      this.status = 'offline';
    }
  }
}

const KEY = Symbol('gateway-status');
export const setGatewayStatus = (state: GatewayStatus): GatewayStatus => setContext(KEY, state);
export const getGatewayStatus = (): GatewayStatus => getContext<GatewayStatus>(KEY);
