import { isAllowedPushEndpoint } from './push-endpoint.js';

describe(isAllowedPushEndpoint.name, () => {
  it('allows https to a public host', () => {
    expect(isAllowedPushEndpoint('https://fcm.googleapis.com/fcm/send/abc', false)).toBe(true);
    expect(isAllowedPushEndpoint('https://updates.push.services.mozilla.com/wpush/v2/x', false)).toBe(true);
  });

  it('refuses http, and loopback or private addresses, unless a loopback test service is allowed', () => {
    expect(isAllowedPushEndpoint('http://push.example/abc', false)).toBe(false);
    expect(isAllowedPushEndpoint('http://127.0.0.1:9000/push/abc', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://localhost/push', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://10.0.0.5/push', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://192.168.1.1/push', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://169.254.169.254/latest', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://[::1]/push', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://[fd00::1]/push', false)).toBe(false);
    expect(isAllowedPushEndpoint('https://user:pw@push.example/abc', false)).toBe(false);
  });

  it('allows http to a loopback host only when insecure endpoints are allowed', () => {
    expect(isAllowedPushEndpoint('http://127.0.0.1:9000/push/abc', true)).toBe(true);
    expect(isAllowedPushEndpoint('http://10.0.0.5/push', true)).toBe(false);
  });
});
