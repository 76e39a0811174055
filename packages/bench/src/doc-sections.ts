/** The first-load section's markers in docs/benchmarks.md (written by first-load.ts, a separate command). */
const BEGIN = '<!-- first-load:begin (node packages/bench/dist/first-load.js) -->';
const END = '<!-- first-load:end -->';

/** `doc` with the first-load section replaced by `section` (or inserted before "## Reproduce", or at the end). */
export function withFirstLoadSection(doc: string, section: string): string {
  const block = `${BEGIN}\n${section}\n${END}`;
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin >= 0 && end > begin) return doc.slice(0, begin) + block + doc.slice(end + END.length);
  const reproduce = doc.indexOf('\n## Reproduce');
  return reproduce >= 0 ? `${doc.slice(0, reproduce)}\n${block}\n${doc.slice(reproduce)}` : `${doc}\n${block}\n`;
}

/** The first-load section of `doc` (without its markers), or undefined when it has none. */
export function firstLoadSectionOf(doc: string): string | undefined {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  return begin >= 0 && end > begin ? doc.slice(begin + BEGIN.length + 1, end - 1) : undefined;
}
