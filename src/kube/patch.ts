// RFC 6901 JSON pointers and the RFC 6902 operations ghostwire emits.

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export const escapePointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

export const pointer = (segments: readonly string[]): string => segments.map((s) => `/${escapePointer(s)}`).join('');
