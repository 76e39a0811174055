import { HttpApi } from '@parley/client';
import { PROTOCOL_VERSION } from '@parley/protocol';
import { config } from './config';

/** Asks the gateway which protocol version it speaks (no sign-in needed). @throws Error when it cannot be reached */
export async function checkGateway(): Promise<{ isCompatible: boolean; serverProtocol: number }> {
  const result = await new HttpApi({ baseUrl: config.gatewayUrl, timeoutMs: 5_000 }).version();
  if (!result.ok) throw new Error(result.error.code);
  return { isCompatible: result.data.protocolVersion === PROTOCOL_VERSION, serverProtocol: result.data.protocolVersion };
}
