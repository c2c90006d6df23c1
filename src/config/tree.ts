/** Plain data as parsed from YAML or JSON: nested objects and arrays, reached by key paths. */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

export function valueAt(tree: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, segment) => (typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[segment] : undefined),
    tree,
  );
}

/** Whether `path` is `prefix` or lies below it. */
export function isUnder(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, index) => path[index] === segment);
}

/** Sets `value` at `path`, making objects on the way; one in the way that is not an object is replaced. */
export function setAt(tree: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const segment of path.slice(0, -1)) {
    const child = node[segment];
    node = isPlainObject(child) ? child : (node[segment] = {});
  }
  node[path.at(-1) ?? ''] = value;
}
