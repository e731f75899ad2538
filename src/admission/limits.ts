// The last step of mutate(): whatever the input, what goes back to the API server (and into an Event) is small.
// The API server itself cuts warnings over 256 characters and ignores warnings past 4096 characters in total; an
// Event's message holds at most 1 KiB. Limits are in UTF-8 bytes, and every cut says how much was left out.
import type { MutationOutcome } from './outcome.js';

export const LIMITS = {
  /** Warnings in one AdmissionResponse, the "and N more" line included. */
  warnings: 16,
  /** One warning, in bytes. */
  warningBytes: 512,
  /** All warnings together, in bytes (the API server drops warnings past 4096 characters). */
  warningsBytes: 4096,
  /** The denial message. */
  denialBytes: 4096,
  /** An Event's message (the API's own limit is 1 KiB). */
  eventBytes: 1024,
} as const;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

const utf8Length = (codePoint: number): number => (codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4);

/** `text` cut to at most `max` UTF-8 bytes, ending in "..." when cut (never through a character). */
export function clipBytes(text: string, max: number): string {
  let used = 0;
  let fits = 0; // end (in UTF-16 units) of the longest prefix that leaves room for "..."
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) as number;
    used += utf8Length(cp);
    if (used > max) return `${text.slice(0, fits)}...`;
    i += cp > 0xffff ? 2 : 1;
    if (used <= max - 3) fits = i;
  }
  return text;
}

/**
 * Items joined with `separator` while the whole stays within `max` bytes; the rest is counted by `more(n)`, which
 * always fits (the budget keeps room for it).
 */
export function joinWithin(items: readonly string[], separator: string, max: number, more: (n: number) => string): string {
  const reserve = bytes(separator) + bytes(more(items.length));
  let out = '';
  let used = 0;
  let taken = 0;
  for (const item of items) {
    const add = (taken > 0 ? bytes(separator) : 0) + bytes(item);
    if (used + add > max - (taken + 1 < items.length ? reserve : 0)) break;
    out += (taken > 0 ? separator : '') + item;
    used += add;
    taken++;
  }
  if (taken === items.length) return out;
  return taken === 0 ? more(items.length) : `${out}${separator}${more(items.length - taken)}`;
}

/** At most LIMITS.warnings warnings of at most LIMITS.warningBytes each, LIMITS.warningsBytes in all. */
export function boundWarnings(warnings: readonly string[]): string[] {
  const clipped = warnings.map((w) => clipBytes(w, LIMITS.warningBytes));
  const out: string[] = [];
  let used = 0;
  const moreLine = (n: number) => `ghostwire: and ${n} more warning${n === 1 ? '' : 's'}`;
  const reserve = bytes(moreLine(warnings.length));
  for (const [i, w] of clipped.entries()) {
    const last = i === clipped.length - 1;
    const room = out.length + 1 < LIMITS.warnings || last;
    if (!room || used + bytes(w) > LIMITS.warningsBytes - (last ? 0 : reserve)) {
      out.push(moreLine(clipped.length - i));
      return out;
    }
    out.push(w);
    used += bytes(w);
  }
  return out;
}

/** The outcome with every caller-sized text bounded: warnings, the denial message, the Event message. */
export function bounded(outcome: MutationOutcome): MutationOutcome {
  const out: MutationOutcome = { ...outcome, warnings: boundWarnings(outcome.warnings) };
  if (outcome.denial) out.denial = { ...outcome.denial, message: clipBytes(outcome.denial.message, LIMITS.denialBytes) };
  if (outcome.event) out.event = { ...outcome.event, message: clipBytes(outcome.event.message, LIMITS.eventBytes) };
  return out;
}
