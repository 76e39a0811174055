import { readFileSync } from 'node:fs';
import { RED_FLAG_LABELS, redFlagLabel, redFlagSummary } from '../src/index.js';

describe('red-flag labels', () => {
  it('words every group of the patient app’s reviewed list', () => {
    const list = readFileSync(new URL('../../../apps/patient/src/lib/safety/red-flag-phrases.ts', import.meta.url), 'utf8');
    const ids = [...list.matchAll(/\bid: '([a-z0-9_-]+)'/g)].map((match) => match[1]);

    expect(ids.length).toBeGreaterThan(0);
    expect(ids.filter((id) => id !== undefined && !Object.hasOwn(RED_FLAG_LABELS, id))).toEqual([]);
  });

  it('shows an unknown id as itself rather than dropping it', () => {
    expect(redFlagLabel('new_group')).toBe('new group');
    expect(redFlagLabel('toString')).toBe('toString');
  });

  it('joins several groups for a sentence', () => {
    expect(redFlagSummary(['chest_pain'])).toBe('chest pain');
    expect(redFlagSummary(['chest_pain', 'breathing', 'stroke'])).toBe('chest pain, difficulty breathing and signs of a stroke');
    expect(redFlagSummary([])).toBe('');
  });
});
