// Function-name globs (`*` any characters, `?` one), matched without regular
// expressions. A glob compiled to a backtracking regex (`*_*_*_done` ->
// /^.*_.*_.*_done$/) takes time cubic in the length of the name it fails on:
// a tenant naming a function of 2400 underscores held the event loop for
// seconds. This matcher keeps only the last `*` as a restart point (a later
// star makes every earlier choice final), so it compares at most
// (name length + 1) x (glob length + 1) characters: linear in the name for a
// given glob, whatever the tenant sends.

export interface GlobMatcher {
  (name: string): boolean;
  /** The glob as written. */
  glob: string;
}

/** Character comparisons of the last match (for the test that proves the bound). */
export let lastMatchSteps = 0;

export function globMatcher(glob: string): GlobMatcher {
  const pattern = [...glob];
  const match = (name: string): boolean => {
    const text = [...name];
    let steps = 0;
    let p = 0;
    let t = 0;
    let star = -1; // position in the pattern after the last star
    let resume = 0; // where in the text that star's match restarts
    while (t < text.length) {
      steps++;
      if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === text[t]))) {
        p++;
        t++;
      } else if (p < pattern.length && pattern[p] === '*') {
        star = ++p;
        resume = t;
      } else if (star >= 0) {
        p = star;
        t = ++resume;
      } else {
        lastMatchSteps = steps;
        return false;
      }
    }
    while (p < pattern.length && pattern[p] === '*') p++;
    lastMatchSteps = steps;
    return p === pattern.length;
  };
  return Object.assign(match, { glob });
}
