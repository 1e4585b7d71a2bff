// How deeply a parsed JSON value nests, measured without recursion. JSON.parse accepts
// 10,000 nested arrays, but JSON.stringify (forwarding a body, storing options) overflows
// the stack on them, so bodies nested beyond any real request are refused up front.
export const MAX_JSON_DEPTH = 64;

// True when `value` nests deeper than `limit` arrays/objects.
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > limit) return true;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
