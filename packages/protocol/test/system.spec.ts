import { SystemPing, SystemPong } from '../src/index.js';

describe('SystemPing', () => {
  it('accepts an empty object', () => {
    expect(SystemPing.safeParse({}).success).toBe(true);
  });

  it('refuses unknown fields', () => {
    const result = SystemPing.safeParse({ extra: 1 });

    expect(result.success).toBe(false);
  });
});

describe('SystemPong', () => {
  it('requires an ISO timestamp', () => {
    expect(SystemPong.safeParse({ protocolVersion: 1, serverTime: 'yesterday' }).success).toBe(false);
    expect(SystemPong.safeParse({ protocolVersion: 1, serverTime: new Date().toISOString() }).success).toBe(true);
  });
});
