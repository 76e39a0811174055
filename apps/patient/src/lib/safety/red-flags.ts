import { RED_FLAG_LIST } from './red-flag-phrases.js';

/** One group of the red-flag list that a text matched. */
export interface RedFlagMatch {
  id: string;
  advice: string;
  /** The phrases of the group found in the text, as listed. */
  phrases: string[];
}

/** Lower case, straight apostrophes, single spaces: how texts and phrases are compared. */
function normalise(text: string): string {
  return ` ${text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/[^\p{L}\p{N}'-]+/gu, ' ')
    .trim()} `;
}

const GROUPS = RED_FLAG_LIST.groups.map((group) => ({ ...group, normalised: group.phrases.map((phrase) => normalise(phrase)) }));

/** The red-flag groups a message text matches (whole words, see red-flag-phrases.ts); empty when none. Pure. */
export function findRedFlags(text: string): RedFlagMatch[] {
  const haystack = normalise(text);
  const matches: RedFlagMatch[] = [];
  for (const group of GROUPS) {
    const phrases = group.phrases.filter((_phrase, index) => haystack.includes(group.normalised[index] ?? '\u0000'));
    if (phrases.length > 0) matches.push({ id: group.id, advice: group.advice, phrases: [...phrases] });
  }
  return matches;
}
