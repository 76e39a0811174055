import { ParleyClient } from '@parley/client';
import { PROTOCOL_VERSION } from '@parley/protocol';
import { config } from './config';

/** Connects to the gateway and checks it speaks our protocol version. */
export async function checkGateway(): Promise<{ isCompatible: boolean; serverProtocol: number }> {
  const client = await ParleyClient.connect({ url: config.gatewayUrl, requestTimeoutMs: 5_000 });
  try {
    const result = await client.request('system:ping', {});
    if (!result.ok) throw new Error(result.error.code);
    return { isCompatible: result.data.protocolVersion === PROTOCOL_VERSION, serverProtocol: result.data.protocolVersion };
  } finally {
    client.close();
  }
}
