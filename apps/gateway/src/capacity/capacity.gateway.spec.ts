import type { Socket } from 'socket.io';
import { aClinician } from '../../test/factories.js';
import { mockOf } from '../../test/mocks.js';
import { CapacityGateway } from './capacity.gateway.js';
import type { CapacityService } from './capacity.service.js';

describe(CapacityGateway.name, () => {
  // A socket with a signed-in clinician; only `data` and `disconnect` are used.
  const aSocket = () => ({ data: { actor: aClinician() }, disconnect: mockOf<Pick<Socket, 'disconnect'>>().disconnect }) as unknown as jest.Mocked<Socket>;

  it("notes a clinician's connection and keeps the socket", async () => {
    const capacity = mockOf<CapacityService>();
    capacity.clinicianConnected.mockResolvedValue();
    const socket = aSocket();

    await new CapacityGateway(capacity).handleConnection(socket);

    expect(capacity.clinicianConnected).toHaveBeenCalledTimes(1);
    expect(socket.disconnect).not.toHaveBeenCalled();
  });

  it('closes the socket instead of failing when the database cannot note the connection (a shutdown, a lost pool)', async () => {
    const capacity = mockOf<CapacityService>();
    capacity.clinicianConnected.mockRejectedValue(new Error('Connection terminated'));
    const socket = aSocket();

    await expect(new CapacityGateway(capacity).handleConnection(socket)).resolves.toBeUndefined();

    expect(socket.disconnect).toHaveBeenCalledWith(true);
  });
});
