/**
 * Keys refused wherever untrusted JSON or YAML becomes an object: assigning `__proto__` swaps an
 * object's prototype (the entry silently vanishes, or poisons lookups), and `constructor` /
 * `prototype` are the other two names prototype-pollution gadgets reach for.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** True for a key that must never become an object property from untrusted input. */
export const isForbiddenKey = (key: string): boolean => FORBIDDEN_KEYS.has(key);
