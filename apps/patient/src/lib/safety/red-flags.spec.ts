import { RED_FLAG_LIST } from './red-flag-phrases.js';
import { findRedFlags } from './red-flags.js';

describe('findRedFlags', () => {
  it.each([
    ['I have had chest pain since this morning', 'chest_pain'],
    ['I CAN’T BREATHE properly', 'breathing'],
    ['sometimes I feel suicidal', 'suicide_self_harm'],
    ["my dad's face is drooping", 'stroke'],
    ['heavy   bleeding after my operation', 'bleeding'],
    ['he collapsed at home', 'collapse_seizure'],
    ['a rash that does not fade under a glass', 'allergy_sepsis'],
    ['the baby is floppy', 'pregnancy_child'],
  ])('flags %j as %s', (text, group) => {
    expect(findRedFlags(text).map((match) => match.id)).toContain(group);
  });

  it('matches every listed phrase on its own', () => {
    for (const group of RED_FLAG_LIST.groups) {
      for (const phrase of group.phrases) expect(findRedFlags(`well, ${phrase}.`).map((match) => match.id)).toContain(group.id);
    }
  });

  it('does not flag ordinary requests or words that merely contain a phrase', () => {
    expect(findRedFlags('Can I have a repeat prescription for my inhaler please?')).toEqual([]);
    expect(findRedFlags('I need to restroke the paint')).toEqual([]);
    expect(findRedFlags('')).toEqual([]);
  });

  it('names each group once with the phrases found', () => {
    expect(findRedFlags('chest pain and a tight chest')).toEqual([
      { id: 'chest_pain', advice: RED_FLAG_LIST.groups[0].advice, phrases: ['chest pain', 'tight chest'] },
    ]);
  });
});
