import { isAllowedOrigin } from './io.adapter.js';

describe('isAllowedOrigin', () => {
  it('lets a client without an Origin through (it is not a browser; it still needs a token)', () => {
    expect(isAllowedOrigin(undefined, 'chat.example:443', [])).toBe(true);
  });

  it('allows a page served by this gateway, whose Origin names the Host it connects to', () => {
    expect(isAllowedOrigin('http://127.0.0.1:3000', '127.0.0.1:3000', [])).toBe(true);
  });

  it('allows a configured origin', () => {
    expect(isAllowedOrigin('https://static.example', 'chat.example', ['https://static.example'])).toBe(true);
  });

  it('refuses any other origin, including a look-alike port or a malformed value', () => {
    expect(isAllowedOrigin('https://evil.example', 'chat.example', ['https://static.example'])).toBe(false);
    expect(isAllowedOrigin('http://127.0.0.1:3001', '127.0.0.1:3000', [])).toBe(false);
    expect(isAllowedOrigin('null', 'chat.example', [])).toBe(false);
  });
});
