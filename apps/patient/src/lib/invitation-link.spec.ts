import { parseInvitationLink } from './invitation-link.js';

describe(parseInvitationLink.name, () => {
  it('reads the practice and the code from the fragment', () => {
    expect(parseInvitationLink('#practice=Y00001&code=ABCD-EFGH-JKMNP')).toEqual({ practice: 'Y00001', code: 'ABCD-EFGH-JKMNP' });
  });

  it('upper-cases the practice code and accepts the parameters in any order, URL-encoded', () => {
    expect(parseInvitationLink('#code=abcd%20efgh%20jkmnp&practice=y00001')).toEqual({ practice: 'Y00001', code: 'abcd efgh jkmnp' });
  });

  it('ignores a fragment that is not an invitation', () => {
    expect(parseInvitationLink('')).toBeNull();
    expect(parseInvitationLink('#top')).toBeNull();
    expect(parseInvitationLink('#practice=Y00001')).toBeNull();
    expect(parseInvitationLink('#practice=Y00001&code=short')).toBeNull();
    expect(parseInvitationLink('#practice=<script>&code=ABCD-EFGH-JKMNP')).toBeNull();
  });
});
