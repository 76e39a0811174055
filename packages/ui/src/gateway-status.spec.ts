import { GatewayStatus } from './gateway-status.svelte';

/** A check whose answer the test gives when it chooses. */
function pendingCheck() {
  let answer: (value: { isCompatible: boolean }) => void = () => undefined;
  let fail: (reason: Error) => void = () => undefined;
  const check = () =>
    new Promise<{ isCompatible: boolean }>((resolve, reject) => {
      answer = resolve;
      fail = reject;
    });
  return { check, answer: (isCompatible: boolean) => answer({ isCompatible }), fail: () => fail(new Error('network')) };
}

describe(GatewayStatus.name, () => {
  it('says checking until the server answers, then online when it speaks this protocol', async () => {
    const server = pendingCheck();
    const sut = new GatewayStatus(server.check);

    const refreshed = sut.refresh();
    const whileChecking = sut.status;
    server.answer(true);
    await refreshed;

    expect(whileChecking).toBe('checking');
    expect(sut.status).toBe('online');
  });

  it('says incompatible when the server speaks another protocol version', async () => {
    const sut = new GatewayStatus(() => Promise.resolve({ isCompatible: false }));

    await sut.refresh();

    expect(sut.status).toBe('incompatible');
  });

  it('says offline, without rejecting, when the server cannot be reached', async () => {
    const server = pendingCheck();
    const sut = new GatewayStatus(server.check);

    const refreshed = sut.refresh();
    server.fail();

    await expect(refreshed).resolves.toBeUndefined();
    expect(sut.status).toBe('offline');
  });

  it('goes back to checking when refreshed after an answer', async () => {
    const server = pendingCheck();
    const sut = new GatewayStatus(server.check);
    const first = sut.refresh();
    server.fail();
    await first;

    const second = sut.refresh();
    const whileChecking = sut.status;
    server.answer(true);
    await second;

    expect(whileChecking).toBe('checking');
    expect(sut.status).toBe('online');
  });
});
