/**
 * Nesting depth of untrusted input, measured without recursion. JSON.parse of a megabyte of `[`
 * takes seconds and the result overflows the stack of anything that walks it (JSON.stringify,
 * deep merges), so readers of JSON files check the text first and refuse deep nesting with a
 * one-line error; parsed values (YAML) are checked with `valueDepth`.
 */

/** Deepest nesting of arrays and objects in JSON text, counting stops past `limit`. Strings are skipped. */
export function jsonTextDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Nesting depth of a plain value (objects and arrays), counting stops past `limit`. */
export function valueDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d + 1 > deepest) deepest = d + 1;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return deepest;
}
