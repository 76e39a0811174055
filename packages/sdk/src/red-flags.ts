/**
 * How staff screens and exports word the red-flag groups a patient's message may carry
 * (`ChatEntry.redFlags`). The ids are those of the patient app's reviewed red-flag list
 * (apps/patient/src/lib/safety/red-flag-phrases.ts); a group added there needs its words here,
 * and until then an unknown id is still shown, as itself, never dropped.
 */
export const RED_FLAG_LABELS: Readonly<Record<string, string>> = {
  chest_pain: 'chest pain',
  breathing: 'difficulty breathing',
  suicide_self_harm: 'thoughts of suicide or self-harm',
  stroke: 'signs of a stroke',
  bleeding: 'heavy bleeding',
  collapse_seizure: 'collapse or a seizure',
  allergy_sepsis: 'severe allergic reaction or sepsis',
  pregnancy_child: 'pregnancy or a baby',
};

/** The words for one red-flag group id: its label, or the id itself (with its underscores as spaces) when this version does not know it. */
export function redFlagLabel(id: string): string {
  return Object.hasOwn(RED_FLAG_LABELS, id) ? (RED_FLAG_LABELS[id] as string) : id.replaceAll(/[_-]/g, ' ');
}

/** The words for a message's red flags, joined for a sentence ("chest pain and difficulty breathing"). */
export function redFlagSummary(ids: readonly string[]): string {
  const labels = ids.map(redFlagLabel);
  return labels.length < 2 ? (labels[0] ?? '') : `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}`;
}
