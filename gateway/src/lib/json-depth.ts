// How deeply a parsed JSON value nests, measured without recursion. JSON.parse accepts
// 10,000 nested arrays, but JSON.stringify (forwarding a body, storing options) overflows
// the stack on them, so bodies nested beyond any real request are refused up front.
export const MAX_JSON_DEPTH = 64;

// True when `value` nests deeper than `limit` arrays/objects. Every request body passes
// through here, so the walk allocates nothing per node: the containers still to visit and
// their depths wait on two parallel stacks, and object members are read in place.
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const nodes: object[] = [value];
  const depths: number[] = [1];
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop() ?? 0;
    if (depth > limit) return true;
    if (Array.isArray(node)) {
      const items: readonly unknown[] = node;
      for (const child of items) {
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const child = (node as Readonly<Record<string, unknown>>)[key];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}
