import { ready } from '@parley/crypto';
import { passphraseAdvice } from '../src/passphrase-advice.js';

describe(passphraseAdvice.name, () => {
  beforeAll(async () => {
    await ready();
  });

  it('says in words what a weak passphrase needs, and nothing for a strong one', () => {
    expect(passphraseAdvice('password1')).toEqual({
      isAcceptable: false,
      problems: expect.arrayContaining(['Use at least 15 characters — a few unrelated words work well.', 'Avoid common passwords and their variations.']),
    });
    expect(passphraseAdvice('cobalt lantern mossy harbour violin')).toEqual({ isAcceptable: true, problems: [] });
  });
});
